package common

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Session is one resolved aws.Config plus the endpoint overrides; every
// client the plugin makes comes from here, so none can miss an override.
type Session struct {
	Config aws.Config
	access *AccessConfig
}

// NewSession resolves the access configuration once.
func NewSession(ctx context.Context, c *AccessConfig) (*Session, error) {
	cfg, err := c.LoadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &Session{Config: cfg, access: c}, nil
}

// Region is the build region.
func (s *Session) Region() string { return s.Config.Region }

// EC2 returns an EC2 client for region ("" for the build region).
func (s *Session) EC2(region string) *ec2.Client {
	return ec2.NewFromConfig(s.Config, func(o *ec2.Options) {
		if region != "" {
			o.Region = region
		}
		if s.access.CustomEndpointEC2 != "" {
			o.BaseEndpoint = aws.String(s.access.CustomEndpointEC2)
		}
	})
}

// STS returns an STS client for the build region.
func (s *Session) STS() *sts.Client {
	return sts.NewFromConfig(s.Config, func(o *sts.Options) {
		if s.access.CustomEndpointSTS != "" {
			o.BaseEndpoint = aws.String(s.access.CustomEndpointSTS)
		}
	})
}

// IAM returns an IAM client.
func (s *Session) IAM() *iam.Client {
	return iam.NewFromConfig(s.Config, func(o *iam.Options) {
		if s.access.CustomEndpointIAM != "" {
			o.BaseEndpoint = aws.String(s.access.CustomEndpointIAM)
		}
	})
}

// Identity says who the build runs as.
type Identity struct {
	Source  string // where the credentials came from, for people
	Account string // empty when skip_credential_validation is set
	ARN     string
}

func (id Identity) String() string {
	if id.Account == "" {
		return id.Source
	}
	return fmt.Sprintf("%s (account %s, %s)", id.Source, id.Account, id.ARN)
}

type callerIdentifier interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Identify fetches the credentials (so a missing or broken source fails here,
// before anything is created) and, unless skip_credential_validation is set,
// asks STS who they belong to.
func (s *Session) Identify(ctx context.Context) (Identity, error) {
	return identify(ctx, s.Config.Credentials, s.STS(), s.access)
}

func identify(ctx context.Context, provider aws.CredentialsProvider, client callerIdentifier, access *AccessConfig) (Identity, error) {
	if provider == nil {
		return Identity{}, fmt.Errorf("no AWS credentials found: set `access_key`/`secret_key`, a `profile`, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
	}
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		return Identity{}, fmt.Errorf("retrieving AWS credentials: %w", err)
	}
	// Whatever source they came from, keep them out of every log line.
	packersdk.LogSecretFilter.Set(creds.SecretAccessKey, creds.SessionToken)
	id := Identity{Source: describeSource(creds.Source, access)}
	if access.SkipCredsValidation {
		return id, nil
	}
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("checking AWS credentials from %s with STS GetCallerIdentity (set `skip_credential_validation = true` to skip): %w", id.Source, err)
	}
	id.Account = aws.ToString(out.Account)
	id.ARN = aws.ToString(out.Arn)
	return id, nil
}

// describeSource turns the SDK's provider name into words a user recognises.
func describeSource(source string, access *AccessConfig) string {
	profile := access.Profile
	if profile == "" {
		profile = "default or AWS_PROFILE"
	}
	switch {
	case source == "StaticCredentials" && access.AccessKey != "":
		return "template (access_key)"
	case source == "EnvConfigCredentials":
		return "environment (AWS_ACCESS_KEY_ID)"
	case strings.HasPrefix(source, "SharedConfigCredentials"):
		file := strings.TrimSpace(strings.TrimPrefix(source, "SharedConfigCredentials:"))
		return fmt.Sprintf("shared credentials file %s, profile %s", file, profile)
	case source == "EC2RoleProvider":
		return "instance role via IMDS"
	case source == "":
		return "unnamed credential provider"
	default:
		return source
	}
}
