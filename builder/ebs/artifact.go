package ebs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Artifact is the AMIs a build made, by region.
type Artifact struct {
	// Amis maps region to AMI ID.
	Amis map[string]string
	// StateData is what Packer's HCP integration and post-processors read.
	StateData map[string]interface{}
	// client gives an EC2 client per region for Destroy.
	client func(region string) imageDeleter
}

func (*Artifact) BuilderId() string { return BuilderID }

func (*Artifact) Files() []string { return nil }

func (a *Artifact) regions() []string {
	regions := make([]string, 0, len(a.Amis))
	for r := range a.Amis {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	return regions
}

// Id is "region:ami-…" pairs, comma-separated, as amazon-ebs reports them.
func (a *Artifact) Id() string {
	parts := make([]string, 0, len(a.Amis))
	for _, r := range a.regions() {
		parts = append(parts, r+":"+a.Amis[r])
	}
	return strings.Join(parts, ",")
}

func (a *Artifact) String() string {
	lines := []string{"AMIs were created:"}
	for _, r := range a.regions() {
		lines = append(lines, fmt.Sprintf("%s: %s", r, a.Amis[r]))
	}
	return strings.Join(lines, "\n")
}

func (a *Artifact) State(name string) interface{} { return a.StateData[name] }

// Destroy deregisters every AMI and deletes its snapshots.
func (a *Artifact) Destroy() error {
	ctx, cancel := cleanupContext()
	defer cancel()
	var errs []error
	for _, r := range a.regions() {
		if err := deleteImage(ctx, a.client(r), a.Amis[r]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}
