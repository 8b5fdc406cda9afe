package common

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

var amiIDPattern = regexp.MustCompile(`^ami-[0-9a-f]+$`)

// ArtifactAMIs reads the region → AMI map out of an AMI artifact's ID,
// "us-east-1:ami-…,eu-west-1:ami-…", the form bakery-ebs and amazon-ebs
// give it. Post-processors get the artifact over Packer's RPC, where its
// ID (and State) are all that is left of it.
func ArtifactAMIs(id string) (map[string]string, error) {
	amis := map[string]string{}
	for _, part := range strings.Split(id, ",") {
		region, ami, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !regionPattern.MatchString(region) || !amiIDPattern.MatchString(ami) {
			return nil, fmt.Errorf("artifact %q is not a list of region:ami-… pairs: give this post-processor the artifact of bakery-ebs (or amazon-ebs)", id)
		}
		if prev, dup := amis[region]; dup && prev != ami {
			return nil, fmt.Errorf("artifact %q names two AMIs in %s", id, region)
		}
		amis[region] = ami
	}
	return amis, nil
}

// ArtifactRegions checks a post-processor's `regions` against the
// artifact: each must hold an AMI of the build. None given: all of the
// artifact's. Sorted, so that work and output go in one order.
func ArtifactRegions(want []string, amis map[string]string) ([]string, error) {
	all := make([]string, 0, len(amis))
	for r := range amis {
		all = append(all, r)
	}
	sort.Strings(all)
	if len(want) == 0 {
		return all, nil
	}
	var missing []string
	for _, r := range want {
		if _, ok := amis[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("`regions` names %v, where the build made no AMI (it made them in %v): add them to the builder's `ami_regions`, or remove them here", missing, all)
	}
	out := slices.Clone(want)
	sort.Strings(out)
	return slices.Compact(out), nil
}

// NewSessionOr is NewSession for work that names a region in every call
// (post-processors): with no region set anywhere, it uses fallback rather
// than fail.
func NewSessionOr(ctx context.Context, access *AccessConfig, fallback string) (*Session, error) {
	sess, err := NewSession(ctx, access)
	if err == nil || access.RawRegion != "" {
		return sess, err
	}
	withRegion := *access
	withRegion.RawRegion = fallback
	return NewSession(ctx, &withRegion)
}
