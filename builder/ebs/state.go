package ebs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
)

// State keys. Steps read and write the state bag only through the accessors
// below, so a key's type is stated once.
const (
	keyUI              = "ui"             // SDK convention
	keyHook            = "hook"           // SDK convention: what StepProvision runs
	keyError           = "error"          // SDK convention: the build's error
	keyInstanceID      = "instance_id"    // SDK convention: hook data's ID
	keyGeneratedData   = "generated_data" // SDK convention: the build variables Packer shows
	keySourceImage     = "bakery/source_image"
	keyBuildInfo       = "bakery/build_info"
	keyNetwork         = "bakery/network"
	keyKeyPairName     = "bakery/key_pair_name"
	keySGIDs           = "bakery/security_group_ids"
	keyInstanceProfile = "bakery/iam_instance_profile"
	keyInstance        = "bakery/instance"
	keyImage           = "bakery/image"
	keyEndpoint        = "bakery/instance_connect_endpoint"
	// keyImages holds the build's finished AMIs by region: the build
	// region's (unless skip_save_build_region) and every copy.
	keyImages = "bakery/images"
	// keyTestInst is the instance `ami_test` launched from the new AMI.
	keyTestInst = "bakery/test_instance"
)

// newBuildState is the state a build starts with.
func newBuildState(ui packersdk.Ui, hook packersdk.Hook) *multistep.BasicStateBag {
	state := new(multistep.BasicStateBag)
	state.Put(keyHook, hook)
	state.Put(keyUI, ui)
	return state
}

// network is where the instance goes.
type network struct {
	VpcID            string
	SubnetID         string
	AvailabilityZone string
}

func getUI(state multistep.StateBag) packersdk.Ui { return state.Get(keyUI).(packersdk.Ui) }

// getError is the build's error, if a step halted with one.
func getError(state multistep.StateBag) (error, bool) {
	err, ok := state.GetOk(keyError)
	if !ok {
		return nil, false
	}
	return err.(error), true
}

func putError(state multistep.StateBag, err error) { state.Put(keyError, err) }

// getGeneratedData is what the build shows Packer as its variables.
func getGeneratedData(state multistep.StateBag) interface{} { return state.Get(keyGeneratedData) }

func getSourceImage(state multistep.StateBag) types.Image {
	return state.Get(keySourceImage).(types.Image)
}

func putSourceImage(state multistep.StateBag, img types.Image) { state.Put(keySourceImage, img) }

func putBuildInfo(state multistep.StateBag, info buildInfo) { state.Put(keyBuildInfo, info) }

// getBuildInfo returns the build variables, known after stepRenderTemplates.
func getBuildInfo(state multistep.StateBag) buildInfo {
	return state.Get(keyBuildInfo).(buildInfo)
}

func getNetwork(state multistep.StateBag) network { return state.Get(keyNetwork).(network) }

func putNetwork(state multistep.StateBag, net network) { state.Put(keyNetwork, net) }

func getKeyPairName(state multistep.StateBag) string {
	name, _ := state.Get(keyKeyPairName).(string)
	return name
}

func putKeyPairName(state multistep.StateBag, name string) { state.Put(keyKeyPairName, name) }

// getSecurityGroupIDs are the instance's groups; none before stepSecurityGroup.
func getSecurityGroupIDs(state multistep.StateBag) []string {
	ids, _ := state.Get(keySGIDs).([]string)
	return ids
}

func putSecurityGroupIDs(state multistep.StateBag, ids []string) { state.Put(keySGIDs, ids) }

// getInstanceProfileSpec is the instance profile the instance is launched
// with, nil for none.
func getInstanceProfileSpec(state multistep.StateBag) *types.IamInstanceProfileSpecification {
	name, _ := state.Get(keyInstanceProfile).(string)
	if name == "" {
		return nil
	}
	return &types.IamInstanceProfileSpecification{Name: aws.String(name)}
}

func putInstanceProfile(state multistep.StateBag, name string) { state.Put(keyInstanceProfile, name) }

// putInstanceID records the instance's ID as soon as it is known, before
// the instance itself is.
func putInstanceID(state multistep.StateBag, id string) { state.Put(keyInstanceID, id) }

func getInstance(state multistep.StateBag) types.Instance {
	return state.Get(keyInstance).(types.Instance)
}

func putInstance(state multistep.StateBag, inst types.Instance) {
	state.Put(keyInstance, inst)
	putInstanceID(state, *inst.InstanceId)
}

// getImage returns the AMI this build created, if any.
// getTestInstance is the instance `ami_test` launched from the new AMI.
func getTestInstance(state multistep.StateBag) types.Instance {
	inst, _ := state.Get(keyTestInst).(types.Instance)
	return inst
}

func putTestInstance(state multistep.StateBag, inst types.Instance) { state.Put(keyTestInst, inst) }

func getImage(state multistep.StateBag) (types.Image, bool) {
	img, ok := state.GetOk(keyImage)
	if !ok {
		return types.Image{}, false
	}
	return img.(types.Image), true
}

func putImage(state multistep.StateBag, img types.Image) { state.Put(keyImage, img) }

// getImages returns the AMIs by region. Before stepCopyImages has run it is
// the build region's image alone.
func getImages(state multistep.StateBag, buildRegion string) map[string]types.Image {
	if imgs, ok := state.GetOk(keyImages); ok {
		return imgs.(map[string]types.Image)
	}
	if img, ok := getImage(state); ok {
		return map[string]types.Image{buildRegion: img}
	}
	return nil
}

func putImages(state multistep.StateBag, imgs map[string]types.Image) { state.Put(keyImages, imgs) }

// halt records err as the build's error, shows it, and stops the build. A
// step cut short by Ctrl-C only stops: the build reports the cancellation.
func halt(state multistep.StateBag, err error) multistep.StepAction {
	if errors.Is(err, context.Canceled) {
		return multistep.ActionHalt
	}
	err = withPermissionHint(err)
	putError(state, err)
	getUI(state).Error(err.Error())
	return multistep.ActionHalt
}

// buildFailed is true when the build is not going to produce an artifact:
// it was cancelled or a step halted.
func buildFailed(state multistep.StateBag) bool {
	_, cancelled := state.GetOk(multistep.StateCancelled)
	_, halted := state.GetOk(multistep.StateHalted)
	return cancelled || halted
}

// cleanupTimeout bounds each Cleanup: the build's own context may already be
// cancelled (Ctrl-C), but cleanup must still finish, and not forever.
const cleanupTimeout = 5 * time.Minute

func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), cleanupTimeout)
}

// cleanupFailed tells the user what was left behind and how to remove it.
func cleanupFailed(ui packersdk.Ui, what, id, command string, err error) {
	ui.Error(fmt.Sprintf("Could not delete %s %s: %v\nDelete it by hand: %s", what, id, withPermissionHint(err), command))
}

// putEndpoint records the EC2 Instance Connect Endpoint the build goes
// through (stepFindEndpoint); the security group and the tunnel read it.
func putEndpoint(state multistep.StateBag, ep eice.Endpoint) { state.Put(keyEndpoint, ep) }

func getEndpoint(state multistep.StateBag) eice.Endpoint {
	return state.Get(keyEndpoint).(eice.Endpoint)
}
