package ebs

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// buildTemplates holds the build-time options (buildTimeOptions) of one
// build. Run asks it for each option's value while it lists the steps —
// `tags: templates.Tags("snapshot_tags", b.config.SnapshotTags)` — and gets
// a value that is empty until stepRenderTemplates, right after the source
// AMI is found, fills it in place. So wiring a new tag option is that one
// expression, and its step keeps a plain bakery.Tags it can be tested with.
// Only steps after stepRenderTemplates may read these values.
type buildTemplates struct {
	ictx  interpolate.Context
	tags  []*lateTags
	texts []*lateText
}

type lateTags struct {
	option           string
	template         map[string]string
	defaults, forced bakery.Tags
	out              bakery.Tags
}

type lateText struct {
	option, template string
	out              *string
}

func newBuildTemplates(ictx interpolate.Context) *buildTemplates {
	return &buildTemplates{ictx: ictx}
}

// Tags returns option's tags, rendered once the source AMI is known.
func (t *buildTemplates) Tags(option string, template map[string]string) bakery.Tags {
	return t.TagsBetween(option, nil, template, nil)
}

// TagsBetween is Tags over defaults and under forced: the build instance's
// default Name, say, and the bakery:* tags no template may change.
func (t *buildTemplates) TagsBetween(option string, defaults bakery.Tags, template map[string]string, forced bakery.Tags) bakery.Tags {
	late := &lateTags{option: option, template: template, defaults: defaults, forced: forced, out: bakery.Tags{}}
	t.tags = append(t.tags, late)
	return late.out
}

// Written is tags as the template writes them, before they are rendered:
// for a value Tags handed out, its option's templates over its defaults and
// under its forced tags; any other tags as they are. It is what the
// permission check and the policy know of the tags before the build.
func (t *buildTemplates) Written(tags bakery.Tags) bakery.Tags {
	for _, l := range t.tags {
		if reflect.ValueOf(l.out).UnsafePointer() == reflect.ValueOf(tags).UnsafePointer() {
			return l.defaults.Merge(l.template, l.forced)
		}
	}
	return tags
}

// asWritten is Written where a step was given no templates (in its tests).
type asWritten func(bakery.Tags) bakery.Tags

func (w asWritten) of(tags bakery.Tags) bakery.Tags {
	if w == nil {
		return tags
	}
	return w(tags)
}

// Text returns a string option (ami_description), rendered once the source
// AMI is known.
func (t *buildTemplates) Text(option, template string) *string {
	late := &lateText{option: option, template: template, out: new(string)}
	t.texts = append(t.texts, late)
	return late.out
}

// render fills every value handed out, and reports every problem at once.
func (t *buildTemplates) render(info buildInfo) error {
	var errs []error
	for _, l := range t.tags {
		rendered, err := renderTags(l.option, l.template, &t.ictx, info)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		clear(l.out)
		for k, v := range l.defaults.Merge(rendered, l.forced) {
			l.out[k] = v
		}
	}
	for _, l := range t.texts {
		rendered, err := renderTemplate(l.option, l.template, &t.ictx, info)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l.option == "ami_description" && len(rendered) > 255 {
			errs = append(errs, fmt.Errorf("`ami_description` renders to %d characters, more than EC2's limit of 255: shorten it", len(rendered)))
			continue
		}
		*l.out = rendered
	}
	return errors.Join(errs...)
}

// stepRenderTemplates renders the build-time options once stepSourceAMI has
// found the source AMI, and keeps the build variables in state.
type stepRenderTemplates struct {
	templates *buildTemplates
	region    string
}

var _ multistep.Step = (*stepRenderTemplates)(nil)

func (s *stepRenderTemplates) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	info := newBuildInfo(getSourceImage(state), s.region)
	if err := s.templates.render(info); err != nil {
		return halt(state, fmt.Errorf("rendering the build variables in the template: %w", err))
	}
	putBuildInfo(state, info)
	return multistep.ActionContinue
}

func (s *stepRenderTemplates) Cleanup(multistep.StateBag) {}
