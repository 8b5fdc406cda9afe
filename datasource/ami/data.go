//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput,Polling,VaultAWSEngine

// Package ami is the `bakery-ami` data source: the AMI that a
// `source_ami_filter`-style filter selects, for use anywhere in a template.
package ami

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// Config is the `data "bakery-ami"` block: the access options of the
// builder and the filter options of its `source_ami_filter`, at top level as
// in amazon-ami.
type Config struct {
	bakery.AccessConfig     `mapstructure:",squash"`
	bakery.AMIFilterOptions `mapstructure:",squash"`
	// Accepted as amazon-ami accepts it (`packer hcl2_upgrade` copies it
	// from the builder): the lookup waits for nothing, so it has no effect.
	Polling *Polling `mapstructure:"aws_polling" required:"false"`
	// Refused with the reason, as by bakery-ebs: credentials from Vault are
	// not read by the plugin.
	VaultAWSEngine *VaultAWSEngine `mapstructure:"vault_aws_engine" required:"false"`
}

// Polling is amazon-ami's `aws_polling` block.
type Polling struct {
	// amazon-ami's waiter attempts. Accepted and ignored: the lookup is one
	// DescribeImages call and waits for nothing.
	MaxAttempts int `mapstructure:"max_attempts" required:"false"`
	// amazon-ami's waiter delay. Accepted and ignored, as `max_attempts`.
	DelaySeconds int `mapstructure:"delay_seconds" required:"false"`
}

// VaultAWSEngine is amazon-ami's `vault_aws_engine` block, decoded only to
// refuse it with the reason rather than HCL's "Unsupported argument".
type VaultAWSEngine struct {
	// The Vault role's name. Setting the block is refused: use Vault's
	// own agent or `vault` CLI to put credentials where the AWS CLI finds
	// them.
	Name string `mapstructure:"name" required:"false"`
	// The ARN of the role Vault would assume. Refused with the block.
	RoleARN string `mapstructure:"role_arn" required:"false"`
	// How long Vault's credentials would live. Refused with the block.
	TTL string `mapstructure:"ttl" required:"false"`
	// The mount path of Vault's AWS secrets engine. Refused with the block.
	EngineName string `mapstructure:"engine_name" required:"false"`
}

// DatasourceOutput is what the data source yields.
type DatasourceOutput struct {
	// The AMI ID, e.g. `ami-0123456789abcdef0`.
	ID string `mapstructure:"id"`
	// The AMI name.
	Name string `mapstructure:"name"`
	// When the AMI was created (RFC 3339).
	CreationDate string `mapstructure:"creation_date"`
	// The owner's account ID.
	Owner string `mapstructure:"owner"`
	// The owner's alias (`amazon`, `aws-marketplace`) or empty.
	OwnerName string `mapstructure:"owner_name"`
	// The AMI's tags.
	Tags map[string]string `mapstructure:"tags"`
}

// Datasource implements packersdk.Datasource.
type Datasource struct {
	config Config
}

var _ packersdk.Datasource = (*Datasource)(nil)

func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

func (d *Datasource) Configure(raws ...interface{}) error {
	if err := config.Decode(&d.config, nil, raws...); err != nil {
		return err
	}
	var errs *packersdk.MultiError
	for _, e := range d.config.AccessConfig.Prepare() {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	if d.config.AMIFilterOptions.Empty() {
		errs = packersdk.MultiErrorAppend(errs, errors.New("set `filters` and `owners` to say which AMI to find"))
	}
	for _, e := range d.config.AMIFilterOptions.Prepare("bakery-ami") {
		errs = packersdk.MultiErrorAppend(errs, e)
	}
	if d.config.VaultAWSEngine != nil {
		errs = packersdk.MultiErrorAppend(errs, errors.New("`vault_aws_engine` is not supported by bakery-ami: credentials from Vault are not read by the plugin; give them through a `profile` whose `credential_process` asks Vault, or through AWS_* environment variables"))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// lookupTimeout bounds the lookup: Packer gives data sources no context.
const lookupTimeout = 5 * time.Minute

func (d *Datasource) Execute() (cty.Value, error) {
	defer bakery.EndRunShareBeforeBuilds() // the builds that follow end the run's share
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	null := cty.NullVal(cty.EmptyObject)
	sess, err := bakery.NewSession(ctx, &d.config.AccessConfig)
	if err != nil {
		return null, err
	}
	// Fails here, with every credential source listed, rather than inside
	// the EC2 call; data sources have no UI, so the line goes to the log.
	id, err := sess.Identify(ctx)
	if err != nil {
		return null, fmt.Errorf("bakery-ami: %w", err)
	}
	log.Printf("[INFO] bakery-ami: AWS credentials: %s; region %s", id, sess.Region())
	img, err := d.config.AMIFilterOptions.Find(ctx, sess.EC2(""))
	if err != nil {
		return null, fmt.Errorf("bakery-ami in %s: %w", sess.Region(), sess.DecodeAuthorizationError(ctx, err))
	}
	return hcl2helper.HCL2ValueFromConfig(output(img), d.OutputSpec()), nil
}

func output(img types.Image) DatasourceOutput {
	tags := map[string]string{}
	for _, t := range img.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return DatasourceOutput{
		ID:           aws.ToString(img.ImageId),
		Name:         aws.ToString(img.Name),
		CreationDate: aws.ToString(img.CreationDate),
		Owner:        aws.ToString(img.OwnerId),
		OwnerName:    aws.ToString(img.ImageOwnerAlias),
		Tags:         tags,
	}
}
