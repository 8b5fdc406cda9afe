//go:build e2e

// End-to-end tests of the fault proxy in a real test-bed: moto behind the
// proxy, called through aws-sdk-go-v2 as the plugin calls it. Run as root on
// a machine prepared by testbed/install.sh:
//
//	go test -tags e2e ./testbed/faultproxy/
package faultproxy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
)

const region = "us-east-1"

var bed *testbed.Bed

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := testbed.Start(ctx, testbed.Options{FaultProxy: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bed = b
	code := m.Run()
	if err := b.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return code
}

// fresh empties moto and the proxy, and turns faults off again when the
// test ends.
func fresh(t *testing.T) (context.Context, *faultproxy.Proxy) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if err := bed.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	p := bed.Faults()
	t.Cleanup(func() {
		if err := p.SetConfig(faultproxy.Config{}); err != nil {
			t.Error(err)
		}
	})
	return ctx, p
}

// sdkClient talks to the proxy with the standard retryer, more attempts and
// short backoffs, so a test under 40 % faults finishes in seconds.
func sdkClient(t *testing.T, ctx context.Context) *ec2.Client {
	t.Helper()
	cfg, err := bed.AWSConfig(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 10
			so.MaxBackoff = 100 * time.Millisecond
		})
	})
}

// motoClient bypasses the proxy: what the test checks must not be faulted.
func motoClient(t *testing.T, ctx context.Context) *ec2.Client {
	t.Helper()
	cfg, err := bed.AWSConfig(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(bed.MotoEndpoint) })
}

// liveInstances lists moto's instances that are not terminated.
func liveInstances(t *testing.T, ctx context.Context) []string {
	t.Helper()
	out, err := motoClient(t, ctx).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if i.State.Name != types.InstanceStateNameTerminated {
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
	}
	return ids
}

func sourceAMI(t *testing.T, ctx context.Context) string {
	t.Helper()
	out, err := motoClient(t, ctx).DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"amazon"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}},
	})
	if err != nil || len(out.Images) == 0 {
		t.Fatalf("no amzn2 image in moto: %v", err)
	}
	return aws.ToString(out.Images[0].ImageId)
}

func runOne(t *testing.T, ctx context.Context, c *ec2.Client, ami string) string {
	t.Helper()
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(ami), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
	})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

func instanceState(t *testing.T, ctx context.Context, c *ec2.Client, id string) types.InstanceStateName {
	t.Helper()
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	return out.Reservations[0].Instances[0].State.Name
}

func TestBedWiring(t *testing.T) {
	if bed.Faults() == nil || bed.Endpoint != bed.Faults().URL() || bed.MotoEndpoint == bed.Endpoint {
		t.Fatalf("Endpoint %s, MotoEndpoint %s, proxy %v", bed.Endpoint, bed.MotoEndpoint, bed.Faults())
	}
	conf, err := os.ReadFile(filepath.Join(bed.Dir, "sshd_config"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "--endpoint "+bed.MotoEndpoint+" ") {
		t.Errorf("sshd's key lookup does not go to moto directly:\n%s", conf)
	}
	if !slices.Contains(bed.EnvVars(), "BAKERY_TESTBED_MOTO_ENDPOINT="+bed.MotoEndpoint) ||
		!slices.Contains(bed.EnvVars(), "AWS_ENDPOINT_URL="+bed.Endpoint) {
		t.Errorf("env: %q", bed.EnvVars())
	}
}

func TestSDKRetriesThroughThrottlingAnd5xx(t *testing.T) {
	ctx, p := fresh(t)
	ami := sourceAMI(t, ctx)
	if err := p.SetConfig(faultproxy.Config{
		Seed:        6,
		Throttle:    faultproxy.Fault{Rate: 0.3},
		ServerError: faultproxy.Fault{Rate: 0.1},
	}); err != nil {
		t.Fatal(err)
	}
	c := sdkClient(t, ctx)
	start := time.Now()
	const launches, describes = 5, 4
	var ids []string
	for i := 0; i < launches; i++ {
		id := runOne(t, ctx, c, ami)
		ids = append(ids, id)
		for j := 0; j < describes; j++ {
			if s := instanceState(t, ctx, c, id); s != types.InstanceStateNameRunning {
				t.Fatalf("state %s", s)
			}
		}
	}
	t.Logf("%d × (RunInstances + %d DescribeInstances) took %v; attempts %v; injected %v",
		launches, describes, time.Since(start), p.Counts(), p.Injected())

	inj := p.Injected()
	runs := p.Count("ec2", "RunInstances")
	calls := runs + p.Count("ec2", "DescribeInstances")
	if inj[faultproxy.KindThrottle] == 0 || inj[faultproxy.KindServerError] == 0 || runs == launches {
		t.Errorf("faults injected %v, RunInstances attempts %d: the seed no longer exercises retried launches", inj, runs)
	}
	if want := launches*(1+describes) + inj[faultproxy.KindThrottle] + inj[faultproxy.KindServerError]; calls != want {
		t.Errorf("proxy counted %d attempts, want %d (every call plus one retry per fault)", calls, want)
	}
	live := liveInstances(t, ctx)
	slices.Sort(live)
	slices.Sort(ids)
	if !slices.Equal(live, ids) {
		t.Errorf("moto has instances %q, want %q", live, ids)
	}
}

func TestLostRunInstancesReplyMakesOneInstance(t *testing.T) {
	ctx, p := fresh(t)
	ami := sourceAMI(t, ctx)
	if err := p.SetConfig(faultproxy.Config{
		LoseReply: faultproxy.Fault{Rate: 1, Max: 1, Actions: []string{"RunInstances"}},
	}); err != nil {
		t.Fatal(err)
	}
	// Without a ClientToken in the input, the SDK makes one up and keeps it
	// across its retries.
	id := runOne(t, ctx, sdkClient(t, ctx), ami)

	if ids := liveInstances(t, ctx); !slices.Equal(ids, []string{id}) {
		t.Errorf("moto has instances %q, want only %s", ids, id)
	}
	inj := p.Injected()
	if n := p.Count("ec2", "RunInstances"); n != 2 || inj[faultproxy.KindLoseReply] != 1 || inj[faultproxy.KindReplay] != 1 {
		t.Errorf("RunInstances attempts %d, injected %v; want 2 attempts, 1 lost reply, 1 replay", n, inj)
	}
}

func TestDelayedReadinessThroughSDK(t *testing.T) {
	ctx, p := fresh(t)
	ami := sourceAMI(t, ctx)
	const pending, stopping, imagePending = 2 * time.Second, time.Second, 2 * time.Second
	if err := p.SetConfig(faultproxy.Config{Readiness: faultproxy.Readiness{
		InstancePending: pending, InstanceStopping: stopping, ImagePending: imagePending,
	}}); err != nil {
		t.Fatal(err)
	}
	c := sdkClient(t, ctx)

	launched := time.Now()
	id := runOne(t, ctx, c, ami)
	if s := instanceState(t, ctx, c, id); s != types.InstanceStateNamePending {
		t.Errorf("just after launch: %s, want pending", s)
	}
	if s := instanceState(t, ctx, motoClient(t, ctx), id); s != types.InstanceStateNameRunning {
		t.Errorf("moto itself says %s", s)
	}
	waitFor(t, ctx, "instance running", launched, pending, func() bool {
		return instanceState(t, ctx, c, id) == types.InstanceStateNameRunning
	})

	stopped := time.Now()
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if s := instanceState(t, ctx, c, id); s != types.InstanceStateNameStopping {
		t.Errorf("just after stop: %s, want stopping", s)
	}
	waitFor(t, ctx, "instance stopped", stopped, stopping, func() bool {
		return instanceState(t, ctx, c, id) == types.InstanceStateNameStopped
	})

	// The SDK's own waiter, as a builder would use it.
	created := time.Now()
	img, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("faultproxy-e2e")})
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}})
	if err != nil || imgs.Images[0].State != types.ImageStatePending {
		t.Errorf("just after CreateImage: %v %v, want pending", imgs, err)
	}
	waiter := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 400*time.Millisecond
	})
	if err := waiter.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(created); d < imagePending || d > imagePending+2*time.Second {
		t.Errorf("AMI available after %v, want about %v", d, imagePending)
	}
}

// waitFor polls cond until it holds, and checks that took about want since
// start: not less (the proxy let the state through early) and not much more.
func waitFor(t *testing.T, ctx context.Context, what string, start time.Time, want time.Duration, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
	if d := time.Since(start); d < want || d > want+time.Second {
		t.Errorf("%s after %v, want about %v", what, d, want)
	}
}

func TestResetClearsCountsAndTokens(t *testing.T) {
	ctx, p := fresh(t)
	ami := sourceAMI(t, ctx)
	c := sdkClient(t, ctx)
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(ami), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String("reset-test"),
	}
	first, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	firstID := aws.ToString(first.Instances[0].InstanceId)
	again, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if id := aws.ToString(again.Instances[0].InstanceId); id != firstID {
		t.Fatalf("repeat with the same token launched %s, want the first call's %s", id, firstID)
	}
	if err := bed.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Counts()); n != 0 {
		t.Errorf("counts after Reset: %v", p.Counts())
	}
	third, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(third.Instances[0].InstanceId) == firstID {
		t.Errorf("after Reset the token still answered with the old instance %s", firstID)
	}
}

// EC2 tags an AMI's snapshots in CreateImage, and a copy and its snapshots
// in CopyImage, when the call asks; moto does neither (CreateImage with a
// snapshot specification fails with HTTP 500), the proxy stands in.
func TestTagsAtImageCreation(t *testing.T) {
	ctx, _ := fresh(t)
	c := sdkClient(t, ctx)
	id := runOne(t, ctx, c, sourceAMI(t, ctx))
	spec := func(rt types.ResourceType, k, v string) types.TagSpecification {
		return types.TagSpecification{ResourceType: rt, Tags: []types.Tag{{Key: aws.String(k), Value: aws.String(v)}}}
	}
	made, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("tags-at-creation"),
		TagSpecifications: []types.TagSpecification{spec(types.ResourceTypeImage, "Owner", "image"), spec(types.ResourceTypeSnapshot, "Owner", "snapshot")}})
	if err != nil {
		t.Fatalf("CreateImage with a snapshot TagSpecification: %v", err)
	}
	copied, err := c.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: made.ImageId, SourceRegion: aws.String(region), Name: aws.String("tags-at-copy"),
		TagSpecifications: []types.TagSpecification{spec(types.ResourceTypeImage, "Copy", "image"), spec(types.ResourceTypeSnapshot, "Copy", "snapshot")}})
	if err != nil {
		t.Fatalf("CopyImage with TagSpecifications: %v", err)
	}
	m := motoClient(t, ctx)
	for _, want := range []struct {
		id, key string
	}{{aws.ToString(made.ImageId), "Owner"}, {aws.ToString(copied.ImageId), "Copy"}} {
		out, err := m.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{want.id}})
		if err != nil || len(out.Images) != 1 {
			t.Fatalf("DescribeImages %s: %v", want.id, err)
		}
		img := out.Images[0]
		if got := tagValue(img.Tags, want.key); got != "image" {
			t.Errorf("AMI %s: tag %s = %q, want %q", want.id, want.key, got, "image")
		}
		var snaps []string
		for _, b := range img.BlockDeviceMappings {
			if b.Ebs != nil && b.Ebs.SnapshotId != nil {
				snaps = append(snaps, *b.Ebs.SnapshotId)
			}
		}
		if len(snaps) == 0 {
			t.Fatalf("AMI %s has no snapshots", want.id)
		}
		s, err := m.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snaps})
		if err != nil {
			t.Fatal(err)
		}
		for _, snap := range s.Snapshots {
			if got := tagValue(snap.Tags, want.key); got != "snapshot" {
				t.Errorf("snapshot %s of %s: tag %s = %q, want %q", aws.ToString(snap.SnapshotId), want.id, want.key, got, "snapshot")
			}
		}
	}
	// A resource type EC2 refuses is refused, and nothing is copied.
	_, err = c.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: made.ImageId, SourceRegion: aws.String(region), Name: aws.String("bad-type"),
		TagSpecifications: []types.TagSpecification{spec(types.ResourceTypeInstance, "k", "v")}})
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Errorf("CopyImage tagging an instance: %v, want InvalidParameterValue", err)
	}
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
