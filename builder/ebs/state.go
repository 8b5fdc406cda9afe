package ebs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// State keys. Steps read and write the state bag only through the accessors
// below, so a key's type is stated once.
const (
	keyUI          = "ui"          // SDK convention
	keyError       = "error"       // SDK convention: the build's error
	keyInstanceID  = "instance_id" // SDK convention: hook data's ID
	keySourceImage = "bakery/source_image"
	keyNetwork     = "bakery/network"
	keyKeyPairName = "bakery/key_pair_name"
	keySGIDs       = "bakery/security_group_ids"
	keyInstance    = "bakery/instance"
	keyImage       = "bakery/image"
	keyTestInst    = "bakery/test_instance"
)

// network is where the instance goes.
type network struct {
	VpcID            string
	SubnetID         string
	AvailabilityZone string
}

func getUI(state multistep.StateBag) packersdk.Ui { return state.Get(keyUI).(packersdk.Ui) }

func getSourceImage(state multistep.StateBag) types.Image {
	return state.Get(keySourceImage).(types.Image)
}

func getNetwork(state multistep.StateBag) network { return state.Get(keyNetwork).(network) }

func getKeyPairName(state multistep.StateBag) string {
	name, _ := state.Get(keyKeyPairName).(string)
	return name
}

func getSecurityGroupIDs(state multistep.StateBag) []string {
	return state.Get(keySGIDs).([]string)
}

func getInstance(state multistep.StateBag) types.Instance {
	return state.Get(keyInstance).(types.Instance)
}

func putInstance(state multistep.StateBag, inst types.Instance) {
	state.Put(keyInstance, inst)
	state.Put(keyInstanceID, *inst.InstanceId)
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

// halt records err as the build's error, shows it, and stops the build. A
// step cut short by Ctrl-C only stops: the build reports the cancellation.
func halt(state multistep.StateBag, err error) multistep.StepAction {
	if errors.Is(err, context.Canceled) {
		return multistep.ActionHalt
	}
	err = withPermissionHint(err)
	state.Put(keyError, err)
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
