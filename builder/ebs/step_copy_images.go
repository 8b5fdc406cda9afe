package ebs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

// stepCopyImages copies the build region's AMI to every region of
// `ami_regions` at once, each copy with a ClientToken (a retried CopyImage
// makes no second copy), encrypted as configured, tagged, and recorded in
// the journal with its region the moment EC2 returns its ID. With
// `skip_save_build_region` the build region's image is removed once every
// copy is available. If any copy fails, or the build fails later, Cleanup
// removes every copy it made, in every region.
type stepCopyImages struct {
	client          func(region string) imageCopier
	buildRegion     string
	regions         []string
	name            string
	description     *string // ami_description, rendered
	encrypt         bool
	kmsKey          func(region string) string
	buildID         string
	tags            bakery.Tags
	snapshotTags    bakery.Tags
	owner           bakery.Tags // ownedTags
	skipBuildRegion bool
	poll            bakery.Poll
	journal         *journal.Journal
	written         asWritten // the tags as written, for the permission check and the policy

	mu     sync.Mutex
	copies map[string]string // region → AMI ID, as soon as it is known
}

var _ multistep.Step = (*stepCopyImages)(nil)

func (s *stepCopyImages) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	src, ok := getImage(state)
	if !ok {
		return multistep.ActionContinue
	}
	srcID := aws.ToString(src.ImageId)
	images := map[string]types.Image{}
	if !s.skipBuildRegion {
		images[s.buildRegion] = src
	}
	if len(s.regions) == 0 {
		putImages(state, images)
		return multistep.ActionContinue
	}
	s.copies = map[string]string{}
	ui.Say(fmt.Sprintf("Copying AMI %s to %s at once...", srcID, strings.Join(s.regions, ", ")))
	var wg sync.WaitGroup
	var errs []error
	for _, region := range s.regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			say := func(msg string) { ui.Say(region + ": " + msg) }
			img, err := imageCopy{
				client: s.client(region), region: region, sourceRegion: s.buildRegion, sourceID: srcID,
				name: s.name, description: aws.ToString(s.description), encrypt: s.encrypt, kmsKey: s.kmsKey(region),
				token: copyToken(s.buildID, "copy", region), tags: s.tags, snapshotTags: s.snapshotTags, owner: s.owner,
				poll: s.poll, say: say,
				started: func(id string) {
					s.mu.Lock()
					s.copies[region] = id
					s.mu.Unlock()
					_ = s.journal.RecordImage(id, region, srcID)
					say(fmt.Sprintf("copy %s requested", id))
				},
			}.run(ctx)
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			images[region] = img
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return halt(state, fmt.Errorf("copying AMI %s to `ami_regions`: %w", srcID, errors.Join(errs...)))
	}
	if s.skipBuildRegion {
		ui.Say(fmt.Sprintf("`skip_save_build_region`: removing AMI %s and its snapshots from %s...", srcID, s.buildRegion))
		if err := deleteImage(ctx, s.client(s.buildRegion), srcID); err != nil {
			return halt(state, fmt.Errorf("removing AMI %s from the build region (`skip_save_build_region`): %w", srcID, err))
		}
		_ = s.journal.Forget(srcID)
	}
	putImages(state, images)
	return multistep.ActionContinue
}

func (s *stepCopyImages) Cleanup(state multistep.StateBag) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.copies) == 0 {
		return
	}
	regions := make([]string, 0, len(s.copies))
	for r := range s.copies {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	if !buildFailed(state) {
		for _, r := range regions {
			_ = s.journal.Forget(s.copies[r])
		}
		return
	}
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	for _, r := range regions {
		id := s.copies[r]
		ui.Say(fmt.Sprintf("The build failed: deregistering copy %s in %s and deleting its snapshots...", id, r))
		if err := deleteImage(ctx, s.client(r), id); err != nil {
			cleanupFailed(ui, "AMI", id, fmt.Sprintf("aws ec2 deregister-image --region %s --image-id %s (then delete its snapshots)", r, id), err)
			continue
		}
		_ = s.journal.Forget(id)
	}
}

func (s *stepCopyImages) awsCalls() []awsCall {
	if len(s.regions) == 0 {
		return nil
	}
	var keys []string
	if s.encrypt {
		for _, r := range s.regions {
			if k := s.kmsKey(r); k != "" {
				keys = append(keys, k)
			}
		}
	}
	// Asked in the build region: IAM judges the action the same in every
	// region (the policy's resources name each one).
	return copyCalls(s.client(s.buildRegion), s.buildRegion, s.written.of(s.tags), s.written.of(s.snapshotTags), s.owner, keys)
}
