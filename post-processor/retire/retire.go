package retire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// imageRetirer is what retiring needs of EC2 in one region.
type imageRetirer interface {
	ec2.DescribeImagesAPIClient
	ec2.DescribeInstancesAPIClient
	ec2.DescribeLaunchTemplateVersionsAPIClient
	DeregisterImage(context.Context, *ec2.DeregisterImageInput, ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DeleteSnapshot(context.Context, *ec2.DeleteSnapshotInput, ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	EnableImageDeprecation(context.Context, *ec2.EnableImageDeprecationInput, ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error)
}

// parameterReader resolves the `resolve:ssm:` AMI of a launch template.
type parameterReader interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// retirer retires one region's old AMIs of the family.
type retirer struct {
	ec2    imageRetirer
	ssm    parameterReader
	region string
	cfg    *Config
	say    func(string)
	now    time.Time
}

// imageIDsPerCall bounds the values of one DescribeInstances filter
// (EC2 accepts at most 200).
const imageIDsPerCall = 200

// run retires the family's old AMIs in the region: plan, check, apply.
func (r retirer) run(ctx context.Context, newAMI string) error {
	candidates, err := r.plan(ctx, newAMI)
	if err != nil {
		return err
	}
	if err := r.check(ctx, candidates); err != nil {
		return err
	}
	return r.apply(ctx, candidates)
}

// plan returns the AMIs to retire, saying why each other one stays.
// newAMI is the build's AMI in the region, which the family must select (a
// family that does not is a typo, and retiring by it would remove some
// other family's AMIs).
func (r retirer) plan(ctx context.Context, newAMI string) ([]types.Image, error) {
	images, err := r.family(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := images[newAMI]; !ok {
		return nil, fmt.Errorf("%s: the family (%s) does not select the new AMI %s: nothing retired; check `name_pattern` and `tags` against the builder's `ami_name` and `tags`", r.region, r.cfg.family(), newAMI)
	}
	ordered := newestFirst(images)
	cutoff := r.now.AddDate(0, 0, -r.cfg.KeepDays)
	var candidates []types.Image
	for i, img := range ordered {
		id := aws.ToString(img.ImageId)
		created, dated := creationTime(img)
		switch {
		case id == newAMI:
			r.keep(img, "the new AMI")
		case r.cfg.KeepReleases > 0 && i < r.cfg.KeepReleases:
			r.keep(img, fmt.Sprintf("one of the newest %d", r.cfg.KeepReleases))
		case r.cfg.KeepDays > 0 && (!dated || created.After(cutoff)):
			r.keep(img, fmt.Sprintf("younger than %d days", r.cfg.KeepDays))
		case !dated:
			r.keep(img, "its creation date is unknown")
		case img.State != types.ImageStateAvailable:
			// Pending may be another build's AMI in the making.
			r.keep(img, "state "+string(img.State))
		case r.cfg.Deprecate && deprecated(img, r.now):
			r.keep(img, "already deprecated")
		default:
			candidates = append(candidates, img)
		}
	}
	if len(candidates) == 0 {
		r.say(fmt.Sprintf("%s: %d AMIs of the family, none to retire", r.region, len(images)))
		return nil, nil
	}
	used, err := r.inUse(ctx, candidates)
	if err != nil {
		// Never retire without knowing what is in use.
		return nil, fmt.Errorf("%s: nothing retired: %w", r.region, err)
	}
	var out []types.Image
	for _, img := range candidates {
		if why, ok := used[aws.ToString(img.ImageId)]; ok {
			r.keep(img, "used by "+why)
			continue
		}
		out = append(out, img)
	}
	return out, nil
}

// check asks EC2 (DryRun) whether each change retiring makes would be
// allowed, on the first AMI to retire, so that a missing permission stops
// the retirement before anything is changed rather than after an AMI is
// deregistered and its snapshots are left behind.
func (r retirer) check(ctx context.Context, candidates []types.Image) error {
	if r.cfg.DryRun || len(candidates) == 0 {
		return nil
	}
	img := candidates[0]
	var errs []error
	refused := func(action string, err error) {
		if code := errorCode(err); code != "DryRunOperation" {
			errs = append(errs, fmt.Errorf("%s: %s (dry run on %s) refused: %w", r.region, action, aws.ToString(img.ImageId), err))
		}
	}
	if r.cfg.Deprecate {
		_, err := r.ec2.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: img.ImageId, DeprecateAt: aws.Time(r.deprecateAt()), DryRun: aws.Bool(true)})
		refused("ec2:EnableImageDeprecation", err)
	} else {
		_, err := r.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId, DryRun: aws.Bool(true)})
		refused("ec2:DeregisterImage", err)
		if snaps := snapshotIDs(img); len(snaps) > 0 {
			_, err := r.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snaps[0]), DryRun: aws.Bool(true)})
			refused("ec2:DeleteSnapshot", err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing retired: %w", errors.Join(errs...))
	}
	return nil
}

// apply retires the planned AMIs, going on past a failure.
func (r retirer) apply(ctx context.Context, candidates []types.Image) error {
	var errs []error
	for _, img := range candidates {
		if err := r.retire(ctx, img); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deprecateAt is when a deprecation takes effect: a minute or two after
// now, since EC2 rounds to the minute and refuses the past.
func (r retirer) deprecateAt() time.Time { return r.now.Add(2 * time.Minute).Truncate(time.Minute) }

func (r retirer) keep(img types.Image, why string) {
	r.say(fmt.Sprintf("%s: keeping %s (%s, created %s): %s", r.region, aws.ToString(img.ImageId), aws.ToString(img.Name), aws.ToString(img.CreationDate), why))
}

// family lists the account's own AMIs of the family in the region, every
// page of them, deprecated ones included.
func (r retirer) family(ctx context.Context) (map[string]types.Image, error) {
	in := &ec2.DescribeImagesInput{Owners: []string{"self"}, IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(1000)}
	if r.cfg.NamePattern != "" {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("name"), Values: []string{r.cfg.NamePattern}})
	}
	for _, k := range sortedKeys(r.cfg.Tags) {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("tag:" + k), Values: []string{r.cfg.Tags[k]}})
	}
	images := map[string]types.Image{}
	pages := ec2.NewDescribeImagesPaginator(r.ec2, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: listing the AMIs of the family (%s): %w", r.region, r.cfg.family(), err)
		}
		for _, img := range page.Images {
			images[aws.ToString(img.ImageId)] = img
		}
	}
	return images, nil
}

// inUse says which of images an instance (in any state but terminated) or
// the default or latest version of a launch template uses, and by what.
func (r retirer) inUse(ctx context.Context, images []types.Image) (map[string]string, error) {
	wanted := map[string]bool{}
	var ids []string
	for _, img := range images {
		wanted[aws.ToString(img.ImageId)] = true
		ids = append(ids, aws.ToString(img.ImageId))
	}
	used := map[string]string{}
	for start := 0; start < len(ids); start += imageIDsPerCall {
		chunk := ids[start:min(start+imageIDsPerCall, len(ids))]
		pages := ec2.NewDescribeInstancesPaginator(r.ec2, &ec2.DescribeInstancesInput{
			Filters: []types.Filter{
				{Name: aws.String("image-id"), Values: chunk},
				{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "shutting-down", "stopping", "stopped"}},
			},
			MaxResults: aws.Int32(1000),
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing the instances of the old AMIs: %w", err)
			}
			for _, res := range page.Reservations {
				for _, inst := range res.Instances {
					id := aws.ToString(inst.ImageId)
					if wanted[id] && inst.State != nil && inst.State.Name != types.InstanceStateNameTerminated {
						used[id] = addUse(used[id], "instance "+aws.ToString(inst.InstanceId))
					}
				}
			}
		}
	}
	// Without a template ID, $Latest and $Default name those versions of
	// every launch template of the region.
	pages := ec2.NewDescribeLaunchTemplateVersionsPaginator(r.ec2, &ec2.DescribeLaunchTemplateVersionsInput{
		Versions: []string{"$Latest", "$Default"}, MaxResults: aws.Int32(200),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the launch templates' AMIs: %w", err)
		}
		for _, v := range page.LaunchTemplateVersions {
			if v.LaunchTemplateData == nil {
				continue
			}
			id, err := r.templateImage(ctx, aws.ToString(v.LaunchTemplateData.ImageId))
			if err != nil {
				return nil, fmt.Errorf("launch template %s (%s) version %d: %w", aws.ToString(v.LaunchTemplateId), aws.ToString(v.LaunchTemplateName), aws.ToInt64(v.VersionNumber), err)
			}
			if wanted[id] {
				used[id] = addUse(used[id], fmt.Sprintf("launch template %s (%s) version %d", aws.ToString(v.LaunchTemplateId), aws.ToString(v.LaunchTemplateName), aws.ToInt64(v.VersionNumber)))
			}
		}
	}
	return used, nil
}

// templateImage is the AMI a launch template's ImageId names: itself, or
// what the SSM parameter of `resolve:ssm:NAME[:VERSION|LABEL]` holds now.
func (r retirer) templateImage(ctx context.Context, imageID string) (string, error) {
	param, ok := strings.CutPrefix(imageID, "resolve:ssm:")
	if !ok {
		return imageID, nil
	}
	out, err := r.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
	if err != nil {
		return "", fmt.Errorf("reading SSM parameter %s, which names its AMI: %w", param, err)
	}
	return aws.ToString(out.Parameter.Value), nil
}

func addUse(uses, use string) string {
	if uses == "" {
		return use
	}
	if slices.Contains(strings.Split(uses, ", "), use) {
		return uses // $Latest and $Default are often one version
	}
	return uses + ", " + use
}

// retire deprecates or deregisters one AMI (and then deletes its
// snapshots); in a dry run it says which it would do.
func (r retirer) retire(ctx context.Context, img types.Image) error {
	id := aws.ToString(img.ImageId)
	snaps := snapshotIDs(img)
	what := fmt.Sprintf("%s (%s, created %s)", id, aws.ToString(img.Name), aws.ToString(img.CreationDate))
	if r.cfg.Deprecate {
		at := r.deprecateAt()
		if r.cfg.DryRun {
			r.say(fmt.Sprintf("%s: dry run: would deprecate %s", r.region, what))
			return nil
		}
		if _, err := r.ec2.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(id), DeprecateAt: aws.Time(at)}); err != nil {
			return fmt.Errorf("%s: deprecating AMI %s: %w", r.region, id, err)
		}
		r.say(fmt.Sprintf("%s: deprecated %s from %s", r.region, what, at.UTC().Format(time.RFC3339)))
		return nil
	}
	if r.cfg.DryRun {
		r.say(fmt.Sprintf("%s: dry run: would deregister %s and delete snapshots %v", r.region, what, snaps))
		return nil
	}
	if _, err := r.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil {
		return fmt.Errorf("%s: deregistering AMI %s: %w", r.region, id, err)
	}
	r.say(fmt.Sprintf("%s: deregistered %s", r.region, what))
	var errs []error
	for _, snap := range snaps {
		_, err := r.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)})
		switch code := errorCode(err); {
		case err == nil:
			r.say(fmt.Sprintf("%s: deleted snapshot %s of %s", r.region, snap, id))
		case code == "InvalidSnapshot.NotFound":
		case code == "InvalidSnapshot.InUse":
			// Another AMI registered from the same snapshot still needs it.
			r.say(fmt.Sprintf("%s: snapshot %s of %s is used by another AMI: kept", r.region, snap, id))
		default:
			errs = append(errs, fmt.Errorf("%s: deleting snapshot %s of the deregistered AMI %s (delete it by hand: aws ec2 delete-snapshot --region %s --snapshot-id %s): %w", r.region, snap, id, r.region, snap, err))
		}
	}
	return errors.Join(errs...)
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func snapshotIDs(img types.Image) []string {
	var ids []string
	for _, bdm := range img.BlockDeviceMappings {
		if bdm.Ebs != nil && bdm.Ebs.SnapshotId != nil {
			ids = append(ids, *bdm.Ebs.SnapshotId)
		}
	}
	return ids
}

func creationTime(img types.Image) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate))
	return t, err == nil
}

func deprecated(img types.Image, now time.Time) bool {
	t, err := time.Parse(time.RFC3339, aws.ToString(img.DeprecationTime))
	return err == nil && !t.After(now)
}

// newestFirst orders AMIs by creation, newest first; ties by ID, so the
// order is the same on every run.
func newestFirst(images map[string]types.Image) []types.Image {
	out := make([]types.Image, 0, len(images))
	for _, img := range images {
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		ti, _ := creationTime(out[i])
		tj, _ := creationTime(out[j])
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return aws.ToString(out[i].ImageId) > aws.ToString(out[j].ImageId)
	})
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// family describes the selection for messages.
func (c *Config) family() string {
	var parts []string
	if c.NamePattern != "" {
		parts = append(parts, "name "+c.NamePattern)
	}
	for _, k := range sortedKeys(c.Tags) {
		parts = append(parts, fmt.Sprintf("tag %s=%s", k, c.Tags[k]))
	}
	return strings.Join(parts, ", ")
}
