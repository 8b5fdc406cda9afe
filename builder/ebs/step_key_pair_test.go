package ebs

import (
	"bytes"
	"context"
	"crypto/rsa"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"golang.org/x/crypto/ssh"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

func sshComm(keyType string, bits int) *communicator.Config {
	c := &communicator.Config{Type: "ssh"}
	c.SSHUsername = "ec2-user"
	c.SSHTemporaryKeyPairType = keyType
	c.SSHTemporaryKeyPairBits = bits
	return c
}

var keyPairTags = bakery.Tags{"Name": "packer_bakery_b1", bakery.TagBuildID: "b1"}

// checkImportedKey checks that EC2 got an authorized_keys public key of
// keyType and that the communicator holds the private half of that key.
func checkImportedKey(t *testing.T, in *ec2.ImportKeyPairInput, comm *communicator.Config, keyType string) ssh.PublicKey {
	t.Helper()
	imported, _, _, rest, err := ssh.ParseAuthorizedKey(in.PublicKeyMaterial)
	if err != nil {
		t.Fatalf("PublicKeyMaterial is not an authorized_keys line: %v\n%s", err, in.PublicKeyMaterial)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("PublicKeyMaterial holds more than one key: %q", in.PublicKeyMaterial)
	}
	if imported.Type() != keyType {
		t.Errorf("imported key type = %s, want %s", imported.Type(), keyType)
	}
	if bytes.Contains(in.PublicKeyMaterial, []byte("PRIVATE")) {
		t.Errorf("the private key was sent to EC2")
	}
	signer, err := ssh.ParsePrivateKey(comm.SSHPrivateKey)
	if err != nil {
		t.Fatalf("communicator private key does not parse: %v", err)
	}
	if !bytes.Equal(signer.PublicKey().Marshal(), imported.Marshal()) {
		t.Errorf("the communicator's private key does not match the public key imported into EC2")
	}
	if !bytes.Equal(comm.SSHPublicKey, in.PublicKeyMaterial) {
		t.Errorf("communicator public key = %q, want the imported %q", comm.SSHPublicKey, in.PublicKeyMaterial)
	}
	return imported
}

func TestStepKeyPair_temporaryED25519(t *testing.T) {
	f := newFakeKeyPairs(t)
	f.ImportKeyPairCalls.Return(&ec2.ImportKeyPairOutput{KeyName: aws.String("packer_bakery_b1")}, nil)
	state, ui := newState(t)
	comm := sshComm("ed25519", 0)
	step := &stepKeyPair{ec2: f, comm: comm, name: "packer_bakery_b1", tags: keyPairTags}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	in := f.ImportKeyPairCalls.Input(t)
	if got := aws.ToString(in.KeyName); got != "packer_bakery_b1" {
		t.Errorf("KeyName = %q, want packer_bakery_b1", got)
	}
	checkImportedKey(t, in, comm, ssh.KeyAlgoED25519)
	if len(in.TagSpecifications) != 1 || in.TagSpecifications[0].ResourceType != types.ResourceTypeKeyPair {
		t.Fatalf("TagSpecifications = %s, want one for key-pair", jsonString(in.TagSpecifications))
	}
	if got := tagMap(in.TagSpecifications[0].Tags); !reflect.DeepEqual(got, map[string]string(keyPairTags)) {
		t.Errorf("key pair tags = %v, want %v", got, keyPairTags)
	}
	if got := getKeyPairName(state); got != "packer_bakery_b1" {
		t.Errorf("key pair name in state = %q, want packer_bakery_b1", got)
	}
	if got := packersdk.LogSecretFilter.FilterString(string(comm.SSHPrivateKey)); strings.Contains(got, "PRIVATE KEY") {
		t.Errorf("the temporary private key is not hidden from logs and UI: %q", got)
	}

	// Cleanup deletes exactly the imported key pair, once.
	f.DeleteKeyPairCalls.Return(nil, nil)
	step.Cleanup(state)
	if got := aws.ToString(f.DeleteKeyPairCalls.Input(t).KeyName); got != "packer_bakery_b1" {
		t.Errorf("DeleteKeyPair KeyName = %q, want packer_bakery_b1", got)
	}
	if comm.SSHPrivateKey != nil {
		t.Errorf("the private key is still in the communicator config after Cleanup")
	}
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup showed an error: %s", ui.Err.String())
	}
	step.Cleanup(state) // a second Cleanup has nothing left to delete
}

func TestStepKeyPair_temporaryRSA(t *testing.T) {
	f := newFakeKeyPairs(t)
	f.ImportKeyPairCalls.Return(nil, nil)
	state, ui := newState(t)
	comm := sshComm("rsa", 2048)
	step := &stepKeyPair{ec2: f, comm: comm, name: "k"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)

	imported := checkImportedKey(t, f.ImportKeyPairCalls.Input(t), comm, ssh.KeyAlgoRSA)
	pub, ok := imported.(ssh.CryptoPublicKey)
	if !ok {
		t.Fatalf("imported key %T has no crypto key", imported)
	}
	if rsaKey, ok := pub.CryptoPublicKey().(*rsa.PublicKey); !ok || rsaKey.N.BitLen() != 2048 {
		t.Errorf("imported key is not a 2048-bit RSA key: %T", pub.CryptoPublicKey())
	}
	if f.ImportKeyPairCalls.Input(t).TagSpecifications != nil {
		t.Errorf("TagSpecifications sent without tags; EC2 rejects an empty specification")
	}
	f.DeleteKeyPairCalls.Return(nil, nil)
	step.Cleanup(state)
}

func TestStepKeyPair_noTemporaryKey(t *testing.T) {
	tests := []struct {
		name     string
		comm     func() *communicator.Config
		wantName string
	}{
		{name: "existing key pair", wantName: "my-key", comm: func() *communicator.Config {
			c := sshComm("ed25519", 0)
			c.SSHKeyPairName = "my-key"
			c.SSHPrivateKeyFile = "/keys/my-key.pem"
			return c
		}},
		{name: "ssh password", comm: func() *communicator.Config {
			c := sshComm("ed25519", 0)
			c.SSHPassword = "hunter2"
			return c
		}},
		{name: "own private key file", comm: func() *communicator.Config {
			c := sshComm("ed25519", 0)
			c.SSHPrivateKeyFile = "/keys/baked-in.pem"
			return c
		}},
		{name: "ssh agent", comm: func() *communicator.Config {
			c := sshComm("ed25519", 0)
			c.SSHAgentAuth = true
			return c
		}},
		{name: "winrm", comm: func() *communicator.Config {
			return &communicator.Config{Type: "winrm"}
		}},
		{name: "no communicator", comm: func() *communicator.Config {
			return &communicator.Config{Type: "none"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKeyPairs(t) // fails on any call
			state, ui := newState(t)
			comm := tt.comm()
			step := &stepKeyPair{ec2: f, comm: comm, name: "packer_bakery_b1"}

			wantContinue(t, step.Run(t.Context(), state), state, ui)

			if tt.wantName == "" {
				wantNoKeys(t, state, keyKeyPairName)
			} else if got := getKeyPairName(state); got != tt.wantName {
				t.Errorf("key pair name in state = %q, want %q", got, tt.wantName)
			}
			if comm.SSHPrivateKey != nil {
				t.Errorf("a private key was generated though none is needed")
			}
			step.Cleanup(state)
		})
	}
}

func TestStepKeyPair_importFails(t *testing.T) {
	f := newFakeKeyPairs(t)
	f.ImportKeyPairCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := newState(t)
	comm := sshComm("ed25519", 0)
	step := &stepKeyPair{ec2: f, comm: comm, name: "packer_bakery_b1"}

	err := wantHalt(t, step.Run(t.Context(), state), state, ui, `importing temporary key pair "packer_bakery_b1"`)
	wantAPICode(t, err, "UnauthorizedOperation")
	wantNoKeys(t, state, keyKeyPairName)
	if comm.SSHPrivateKey != nil || comm.SSHPublicKey != nil {
		t.Errorf("the communicator got a key that EC2 does not have")
	}
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // nothing was created: the fake fails on DeleteKeyPair
}

func TestStepKeyPair_cleanupAfterCancel(t *testing.T) {
	f := newFakeKeyPairs(t)
	f.ImportKeyPairCalls.Return(nil, nil)
	f.DeleteKeyPairCalls.Return(nil, nil)
	state, ui := newState(t)
	ctx, cancel := context.WithCancel(t.Context())
	step := &stepKeyPair{ec2: f, comm: sshComm("ed25519", 0), name: "k1"}

	wantContinue(t, step.Run(ctx, state), state, ui)
	cancel() // Ctrl-C later in the build
	state.Put(multistep.StateCancelled, true)
	step.Cleanup(state)

	wantLiveCleanupContexts(t, "DeleteKeyPair", f.DeleteKeyPairCalls.CtxErrs, f.DeleteKeyPairCalls.HadDeadline)
	if ui.Err.Len() > 0 {
		t.Errorf("Cleanup after a cancel showed an error: %s", ui.Err.String())
	}
}

func TestStepKeyPair_cleanupFails(t *testing.T) {
	f := newFakeKeyPairs(t)
	f.ImportKeyPairCalls.Return(nil, nil)
	f.DeleteKeyPairCalls.Return(nil, apiErr("UnauthorizedOperation"))
	state, ui := newState(t)
	step := &stepKeyPair{ec2: f, comm: sshComm("ed25519", 0), name: "packer_bakery_b1"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	step.Cleanup(state)

	for _, want := range []string{"packer_bakery_b1", "UnauthorizedOperation", "aws ec2 delete-key-pair --key-name packer_bakery_b1"} {
		if !strings.Contains(ui.Err.String(), want) {
			t.Errorf("cleanup error %q does not mention %q", ui.Err.String(), want)
		}
	}
}

// After a lost ImportKeyPair reply, the SDK's retry meets the pair the first
// attempt made: it holds this build's public key, so the build uses it and
// deletes it at the end.
func TestStepKeyPair_duplicateOfOwnKeyIsAdopted(t *testing.T) {
	f := newFakeKeyPairs(t)
	f.ImportKeyPairCalls.Return(nil, apiErr("InvalidKeyPair.Duplicate"))
	f.DescribeKeyPairsCalls.ReturnFunc(func(in *ec2.DescribeKeyPairsInput) (*ec2.DescribeKeyPairsOutput, error) {
		if !aws.ToBool(in.IncludePublicKey) || len(in.KeyNames) != 1 || in.KeyNames[0] != "packer_bakery_b1" {
			t.Errorf("DescribeKeyPairs asked %+v, want the pair's public key by name", in)
		}
		imported := string(f.ImportKeyPairCalls.Inputs[0].PublicKeyMaterial)
		// EC2 answers with its own comment.
		fields := strings.Fields(imported)
		return &ec2.DescribeKeyPairsOutput{KeyPairs: []types.KeyPairInfo{{
			KeyName: aws.String("packer_bakery_b1"), PublicKey: aws.String(fields[0] + " " + fields[1] + " packer_bakery_b1"),
		}}}, nil
	})
	f.DeleteKeyPairCalls.Return(nil, nil)
	state, ui := newState(t)
	comm := sshComm("ed25519", 0)
	step := &stepKeyPair{ec2: f, comm: comm, name: "packer_bakery_b1"}

	wantContinue(t, step.Run(t.Context(), state), state, ui)
	if getKeyPairName(state) != "packer_bakery_b1" || len(comm.SSHPrivateKey) == 0 {
		t.Fatal("the adopted key pair is not used for the build")
	}
	if !strings.Contains(ui.Out.String(), "reply was lost") {
		t.Errorf("the user was not told why an existing key pair is used: %q", ui.Out.String())
	}
	step.Cleanup(state)
	if got := aws.ToString(f.DeleteKeyPairCalls.Input(t).KeyName); got != "packer_bakery_b1" {
		t.Errorf("Cleanup deleted %q, want the adopted pair", got)
	}
}

// A pair of that name with another public key belongs to someone else: the
// build fails and leaves it alone.
func TestStepKeyPair_duplicateOfOtherKeyFails(t *testing.T) {
	_, otherPublic, err := generateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeKeyPairs(t)
	f.ImportKeyPairCalls.Return(nil, apiErr("InvalidKeyPair.Duplicate"))
	f.DescribeKeyPairsCalls.Return(&ec2.DescribeKeyPairsOutput{KeyPairs: []types.KeyPairInfo{{
		KeyName: aws.String("packer_bakery_b1"), PublicKey: aws.String(string(otherPublic)),
	}}}, nil)
	state, ui := newState(t)
	comm := sshComm("ed25519", 0)
	step := &stepKeyPair{ec2: f, comm: comm, name: "packer_bakery_b1"}

	wantHalt(t, step.Run(t.Context(), state), state, ui, "is not this build's")
	wantNoKeys(t, state, keyKeyPairName)
	if comm.SSHPrivateKey != nil {
		t.Error("the communicator got a key that does not open the existing pair")
	}
	state.Put(multistep.StateHalted, true)
	step.Cleanup(state) // not ours: the fake fails on DeleteKeyPair
}
