package ebs

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// buildTimeOptions may use the build's own variables ({{ .SourceAMIName }},
// {{ .BuildRegion }}…), which exist only once the source AMI is found: as
// in amazon-ebs, Prepare leaves them unrendered (it checks them, see
// prepareTemplates) and stepRenderTemplates renders them. The list is
// amazon-ebs's, so an option that another part of the plugin adds under one
// of these names is covered from the start; its step only needs its value
// from buildTemplates.
var buildTimeOptions = []string{
	"ami_description",
	"tags", "tag",
	"run_tags", "run_tag",
	"run_volume_tags", "run_volume_tag",
	"snapshot_tags", "snapshot_tag",
	"spot_tags", "spot_tag",
	"fleet_tags", "fleet_tag",
}

// templateFuncs are the functions this builder adds to packer's template
// engine, as amazon-ebs does, and clean_ami_name, the name the same
// function had until Packer 1.5: legacy JSON templates still use it, and
// `packer fix` renames it.
var templateFuncs = map[string]interface{}{
	"clean_resource_name": cleanResourceName,
	"clean_ami_name":      cleanResourceName,
}

// deprecatedTemplateFuncs are the functions of templateFuncs kept under an
// old name, and the name to use instead.
var deprecatedTemplateFuncs = map[string]string{"clean_ami_name": "clean_resource_name"}

// templateFuncsNoting is templateFuncs with each deprecated function
// reporting its use to used, so Prepare can warn about it.
func templateFuncsNoting(used func(name string)) map[string]interface{} {
	funcs := make(map[string]interface{}, len(templateFuncs))
	for name, f := range templateFuncs {
		funcs[name] = f
	}
	for name := range deprecatedTemplateFuncs {
		name, f := name, templateFuncs[name].(func(string) string)
		funcs[name] = func(s string) string { used(name); return f(s) }
	}
	return funcs
}

// cleanResourceName makes s a valid AMI name by replacing each byte EC2
// does not allow in one with "-", exactly as amazon-ebs's function of the
// same name does, so a migrated template names its AMIs as before (a
// non-ASCII character becomes one "-" per byte of its UTF-8 form). Packer
// has no HCL function of that name: in HCL2 templates it is used in a
// template string, "web {{ isotime | clean_resource_name }}".
func cleanResourceName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 0x80 || !amiNameRune(rune(c)) {
			b[i] = '-'
		}
	}
	return string(b)
}

func amiNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("()[] ./-'@_", r)
}

// buildInfo is the data build-time templates see, and what provisioners get
// as `build.<Name>` (all but SourceAMITags, which is not a string).
type buildInfo struct {
	BuildRegion           string
	SourceAMI             string
	SourceAMICreationDate string
	SourceAMIName         string
	SourceAMIOwner        string
	SourceAMIOwnerName    string
	SourceAMITags         map[string]string
}

// generatedDataNames are the `build.<Name>` variables the builder gives
// provisioners: amazon-ebs's list.
var generatedDataNames = []string{"BuildRegion", "SourceAMI", "SourceAMICreationDate", "SourceAMIName", "SourceAMIOwner", "SourceAMIOwnerName"}

func newBuildInfo(img types.Image, region string) buildInfo {
	tags := make(map[string]string, len(img.Tags))
	for _, t := range img.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return buildInfo{
		BuildRegion:           region,
		SourceAMI:             aws.ToString(img.ImageId),
		SourceAMICreationDate: aws.ToString(img.CreationDate),
		SourceAMIName:         aws.ToString(img.Name),
		SourceAMIOwner:        aws.ToString(img.OwnerId),
		SourceAMIOwnerName:    aws.ToString(img.ImageOwnerAlias),
		SourceAMITags:         tags,
	}
}

// generated returns the provisioners' `build.<Name>` values.
func (b buildInfo) generated() map[string]string {
	v := reflect.ValueOf(b)
	out := make(map[string]string, len(generatedDataNames))
	for _, name := range generatedDataNames {
		out[name] = v.FieldByName(name).String()
	}
	return out
}

// sampleBuildInfo stands in for the real data when Prepare checks templates.
var sampleBuildInfo = buildInfo{
	BuildRegion: "us-east-1", SourceAMI: "ami-0123456789abcdef0", SourceAMICreationDate: "2024-01-01T00:00:00.000Z",
	SourceAMIName: "sample", SourceAMIOwner: "123456789012", SourceAMIOwnerName: "amazon", SourceAMITags: map[string]string{},
}

var unknownField = regexp.MustCompile(`can't evaluate field (\w+)`)

// renderTemplate renders one string of option with packer's functions
// (timestamp, user, clean_resource_name…) and info as data. A tag the
// source AMI lacks ({{ .SourceAMITags.Team }}) renders empty; amazon-ebs
// writes "<no value>".
func renderTemplate(option, text string, ictx *interpolate.Context, info buildInfo) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	tpl, err := template.New(option).Funcs(interpolate.Funcs(ictx)).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", fmt.Errorf("`%s`: %q is not a valid template: %w", option, text, err)
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, info); err != nil {
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			return "", fmt.Errorf("`%s`: %q uses .%s, which is not a build variable: use .BuildRegion, .SourceAMI, .SourceAMIName, .SourceAMIOwner, .SourceAMIOwnerName, .SourceAMICreationDate or .SourceAMITags.<Key>", option, text, m[1])
		}
		return "", fmt.Errorf("`%s`: rendering %q: %w", option, text, err)
	}
	return out.String(), nil
}

// tagKeyProblem says why EC2 would refuse a tag key, if it would.
func tagKeyProblem(key string) string {
	switch {
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return "starts with aws:, a prefix EC2 keeps for AWS's own tags"
	case utf8.RuneCountInString(key) > 128:
		return "is longer than EC2's limit of 128 characters"
	}
	return ""
}

// tagValueProblem says why EC2 would refuse a tag value, if it would.
func tagValueProblem(value string) string {
	if utf8.RuneCountInString(value) > 256 {
		return "is more than EC2's limit of 256"
	}
	return ""
}

// renderTags renders the keys and values of one tag option.
func renderTags(option string, tmpl map[string]string, ictx *interpolate.Context, info buildInfo) (bakery.Tags, error) {
	keys := make([]string, 0, len(tmpl))
	for k := range tmpl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(bakery.Tags, len(tmpl))
	from := make(map[string]string, len(tmpl))
	var errs []string
	for _, k := range keys {
		key, err := renderTemplate(option, k, ictx, info)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		value, err := renderTemplate(option, tmpl[k], ictx, info)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		switch prev, dup := from[key]; {
		case strings.TrimSpace(key) == "":
			errs = append(errs, fmt.Sprintf("`%s`: the key %q renders to an empty tag key", option, k))
		case tagKeyProblem(key) != "":
			errs = append(errs, fmt.Sprintf("`%s`: the key %q renders to %q, which %s", option, k, key, tagKeyProblem(key)))
		case tagValueProblem(value) != "":
			errs = append(errs, fmt.Sprintf("`%s`: the value of %q renders to %d characters, which %s", option, key, utf8.RuneCountInString(value), tagValueProblem(value)))
		case dup:
			errs = append(errs, fmt.Sprintf("`%s`: the keys %q and %q both render to %q: one would overwrite the other", option, prev, k, key))
		default:
			from[key] = k
			out[key] = value
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// prepareTemplates checks every build-time option's templates at Prepare,
// with sample data: a syntax error, an unknown variable or function fails
// `packer validate` instead of the build after launch.
func (c *Config) prepareTemplates() []error {
	var errs []error
	check := func(option, text string) {
		if !bakery.Known(text) {
			return
		}
		if _, err := renderTemplate(option, text, &c.ctx, sampleBuildInfo); err != nil {
			errs = append(errs, err)
		}
	}
	forEachBuildTimeOption(reflect.ValueOf(c).Elem(), func(option string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			check(option, v.String())
		case reflect.Map:
			if v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
				return
			}
			iter := v.MapRange()
			for iter.Next() {
				key, value := iter.Key().String(), iter.Value().String()
				check(option, key)
				check(option, value)
				// What has no template is final: check it as EC2 will.
				if p := tagKeyProblem(key); p != "" && !strings.Contains(key, "{{") && bakery.Known(key) {
					errs = append(errs, fmt.Errorf("`%s`: the tag key %q %s", option, key, p))
				}
				if p := tagValueProblem(value); p != "" && !strings.Contains(value, "{{") && bakery.Known(value) {
					errs = append(errs, fmt.Errorf("`%s`: the value of tag %q has %d characters, which %s", option, key, utf8.RuneCountInString(value), p))
				}
			}
		}
	})
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	// ami_name is rendered at Prepare (for timestamp() and the like), when
	// the build variables have no value yet; amazon-ebs then fails on the
	// "<no value>" it gets.
	if strings.Contains(c.AMIName, "<no value>") {
		errs = append(errs, fmt.Errorf("`ami_name` %q: the build variables ({{ .SourceAMIName }}…) are not known when the name is checked, before the build; use them in `ami_description` or `tags`", c.AMIName))
	}
	return errs
}

// forEachBuildTimeOption calls fn with each field of v (squashed structs
// included) that is a build-time option.
func forEachBuildTimeOption(v reflect.Value, fn func(option string, field reflect.Value)) {
	bakery.EachOption(v, func(name string, field reflect.Value) {
		if slices.Contains(buildTimeOptions, name) {
			fn(name, field)
		}
	})
}
