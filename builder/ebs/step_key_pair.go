package ebs

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"golang.org/x/crypto/ssh"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

type keyPairImporter interface {
	ImportKeyPair(context.Context, *ec2.ImportKeyPairInput, ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error)
	DescribeKeyPairs(context.Context, *ec2.DescribeKeyPairsInput, ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
	DeleteKeyPair(context.Context, *ec2.DeleteKeyPairInput, ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
}

// stepKeyPair makes the temporary SSH key pair: generated here, only the
// public half imported into EC2, so the private key never leaves this
// machine (amazon-ebs lets EC2 generate it and sends it over the wire).
type stepKeyPair struct {
	ec2     keyPairImporter
	comm    *communicator.Config
	name    string
	tags    bakery.Tags      // its Name, run_tags and the build's own tags, as amazon-ebs tags it with run_tags
	written asWritten        // the tags as written, for the permission check's dry run (it runs before they are rendered)
	journal *journal.Journal // nil records nothing

	created string
}

var _ multistep.Step = (*stepKeyPair)(nil)

func (s *stepKeyPair) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	if s.comm.SSHKeyPairName != "" {
		ui.Say(fmt.Sprintf("Using existing key pair %s", s.comm.SSHKeyPairName))
		putKeyPairName(state, s.comm.SSHKeyPairName)
		return multistep.ActionContinue
	}
	if !temporaryKeyPair(s.comm) {
		// The user brings their own way in (user data, an AMI with a known
		// password or key); no key pair is attached.
		return multistep.ActionContinue
	}

	ui.Say(fmt.Sprintf("Creating temporary %s key pair %s...", s.comm.SSHTemporaryKeyPairType, s.name))
	private, public, err := generateKey(s.comm.SSHTemporaryKeyPairType, s.comm.SSHTemporaryKeyPairBits)
	if err != nil {
		return halt(state, fmt.Errorf("generating temporary %s key: %w", s.comm.SSHTemporaryKeyPairType, err))
	}
	packersdk.LogSecretFilter.Set(string(private))
	_, err = s.ec2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{
		KeyName:           aws.String(s.name),
		PublicKeyMaterial: public,
		TagSpecifications: s.tags.Spec(types.ResourceTypeKeyPair),
	})
	if apiErrorCode(err) == "InvalidKeyPair.Duplicate" {
		// After a lost reply the SDK's retry meets the pair the first
		// attempt created. It is ours if it holds our fresh public key.
		if err = s.adopt(ctx, public); err == nil {
			ui.Say(fmt.Sprintf("Key pair %s was created by an attempt whose reply was lost; using it", s.name))
		}
	}
	if err != nil {
		return halt(state, fmt.Errorf("importing temporary key pair %q: %w", s.name, err))
	}
	s.created = s.name
	_ = s.journal.Record(journal.KindKeyPair, s.name, "")
	s.comm.SSHPrivateKey = private
	s.comm.SSHPublicKey = public
	putKeyPairName(state, s.name)
	return multistep.ActionContinue
}

func (s *stepKeyPair) Cleanup(state multistep.StateBag) {
	if s.created == "" {
		return
	}
	s.comm.SSHPrivateKey = nil
	ui := getUI(state)
	ctx, cancel := cleanupContext()
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting temporary key pair %s...", s.created))
	_, err := s.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(s.created)})
	if err != nil && apiErrorCode(err) != "InvalidKeyPair.NotFound" { // gone already: a lost reply's retry
		cleanupFailed(ui, "temporary key pair", s.created, "aws ec2 delete-key-pair --key-name "+s.created, err)
		return
	}
	_ = s.journal.Forget(s.created)
	s.created = ""
}

// adopt accepts an existing key pair named s.name only if it holds the
// public key this build just generated.
func (s *stepKeyPair) adopt(ctx context.Context, public []byte) error {
	out, err := s.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{
		KeyNames:         []string{s.name},
		IncludePublicKey: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("key pair %q already exists; describing it: %w", s.name, err)
	}
	if len(out.KeyPairs) != 1 || !samePublicKey(aws.ToString(out.KeyPairs[0].PublicKey), public) {
		return fmt.Errorf("key pair %q already exists and is not this build's: set another `temporary_key_pair_name`, or delete that key pair", s.name)
	}
	return nil
}

func samePublicKey(authorized string, public []byte) bool {
	a, _, _, _, errA := ssh.ParseAuthorizedKey([]byte(authorized))
	b, _, _, _, errB := ssh.ParseAuthorizedKey(public)
	return errA == nil && errB == nil && bytes.Equal(a.Marshal(), b.Marshal())
}

// generateKey returns a private key in OpenSSH PEM form and the public key in
// authorized_keys form, which is what ImportKeyPair takes.
func generateKey(kind string, bits int) (private, public []byte, err error) {
	var signer any
	var pub any
	switch kind {
	case "rsa":
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, nil, err
		}
		signer, pub = key, &key.PublicKey
	case "ed25519", "":
		p, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		signer, pub = key, p
	default:
		return nil, nil, fmt.Errorf("unsupported key type %q", kind)
	}
	block, err := ssh.MarshalPrivateKey(signer, "packer-bakery temporary key")
	if err != nil {
		return nil, nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), ssh.MarshalAuthorizedKey(sshPub), nil
}

// temporaryKeyPair: the build imports a key pair of its own only when the
// template brings no way in (a key pair, a key, a password, the agent).
func temporaryKeyPair(c *communicator.Config) bool {
	return c.SSHKeyPairName == "" && c.Type == "ssh" && c.SSHPassword == "" && c.SSHPrivateKeyFile == "" && !c.SSHAgentAuth
}

func (s *stepKeyPair) awsCalls() []awsCall {
	if !temporaryKeyPair(s.comm) {
		return nil
	}
	calls := []awsCall{
		{action: "ec2:ImportKeyPair", grants: []Grant{{Sid: "ImportTaggedKeyPair", EC2: []string{"key-pair/*"}, Tagged: RequestTagged}},
			check: func(ctx context.Context) error {
				_, public, err := generateKey("ed25519", 0)
				if err != nil {
					public = nil // the dry run then fails on the input, not on permission: inconclusive
				}
				_, err = s.ec2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{DryRun: dryRun, KeyName: aws.String(placeholderName),
					PublicKeyMaterial: public, TagSpecifications: s.written.of(s.tags).Spec(types.ResourceTypeKeyPair)})
				return err
			}},
		{action: "ec2:CreateTags", partOf: "ec2:ImportKeyPair", grants: []Grant{tagOnCreate("ImportKeyPair", "key-pair/*")}},
		{action: "ec2:DeleteKeyPair", grants: []Grant{{Sid: "DeleteOwnKeyPair", EC2: []string{"key-pair/*"}, Tagged: ResourceTagged}},
			check: func(ctx context.Context) error {
				_, err := s.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{DryRun: dryRun, KeyName: aws.String(placeholderName)})
				return err
			}},
	}
	// A retry after a lost reply checks the pair it meets.
	describePairs := describe("ec2:DescribeKeyPairs")[0]
	describePairs.check = func(ctx context.Context) error {
		_, err := s.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{DryRun: dryRun})
		return err
	}
	return append(calls, describePairs)
}
