package common

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-bakery/packer-plugin-bakery/version"
)

const imdsDisabled = imds.ClientDisabled

// credentialsExpiryWindow: temporary credentials are refreshed this long
// before they expire, so no call of a long build starts with a credential
// that dies in flight.
const credentialsExpiryWindow = 2 * time.Minute

// Session is one resolved aws.Config; every client the plugin makes comes
// from here, so none can miss an endpoint override.
type Session struct {
	Config aws.Config
	access *AccessConfig
	// chain is the precedence table as credentialChain reported it; source
	// the row of the provider the SDK built (with assume_role folded in).
	chain  []credentialSource
	source credentialSource
	found  bool
}

// NewSession resolves region, endpoints and the credential provider. The
// credentials themselves are fetched by Identify.
func NewSession(ctx context.Context, c *AccessConfig) (*Session, error) {
	cfg, in, err := c.loadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{Config: cfg, access: c}
	s.chain, s.source, s.found = credentialChain(in, providerSources(cfg.Credentials))
	if s.found && c.AssumeRole.RoleARN != "" {
		role := assumeRoleProvider(s.Config, c)
		if c.AssumeRole.MFASerial != "" {
			// One MFA code, one AssumeRole per packer run.
			role = shareMFARole(role, c.AssumeRole)
		}
		s.Config.Credentials = cacheCredentials(role)
		s.source.Detail = fmt.Sprintf("assumed role %s (via %s)", c.AssumeRole.RoleARN, s.source.Detail)
		s.source.Kind = kindOther
	} else if p := in.profile; s.found && c.MFACode != "" && p != nil && p.RoleARN != "" && p.MFASerial != "" &&
		slices.Contains(providerSources(cfg.Credentials), aws.CredentialSourceSTSAssumeRole) {
		// The profile's role with `mfa_code`: one AssumeRole per packer
		// run too.
		s.Config.Credentials = cacheCredentials(shareMFARole(cfg.Credentials,
			AssumeRoleConfig{RoleARN: p.RoleARN, MFASerial: p.MFASerial, SessionName: p.RoleSessionName}))
	}
	return s, nil
}

// LoadAWSConfig resolves credentials and region into one aws.Config: the
// template's options first, then exactly what the AWS CLI would use. The
// credentials are not fetched here; Session.Identify does that.
func (c *AccessConfig) LoadAWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, _, err := c.loadAWSConfig(ctx)
	return cfg, err
}

// sharedFiles are the shared config and credentials files in use.
type sharedFiles struct{ config, credentials []string }

func (f sharedFiles) String() string {
	return strings.Join(append(append([]string{}, f.credentials...), f.config...), " or ")
}

// listProfiles names the profiles the files hold, for an error about a
// profile that is not there (most often a typo).
func (f sharedFiles) listProfiles() string {
	seen := map[string]bool{}
	var names []string
	for _, path := range append(append([]string{}, f.credentials...), f.config...) {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "[") || !strings.HasSuffix(line, "]") {
				continue
			}
			name := strings.TrimSpace(strings.TrimPrefix(strings.Trim(line, "[]"), "profile "))
			if strings.HasPrefix(name, "sso-session ") || strings.HasPrefix(name, "services ") || seen[name] {
				continue
			}
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "they hold no profiles"
	}
	return "profiles there: " + strings.Join(names, ", ")
}

func (c *AccessConfig) sharedFiles(env config.EnvConfig) sharedFiles {
	f := sharedFiles{
		config:      []string{config.DefaultSharedConfigFilename()},
		credentials: []string{config.DefaultSharedCredentialsFilename()},
	}
	if env.SharedConfigFile != "" {
		f.config = []string{env.SharedConfigFile}
	}
	if env.SharedCredentialsFile != "" {
		f.credentials = []string{env.SharedCredentialsFile}
	}
	if c.SharedConfigFile != "" {
		f.config = []string{c.SharedConfigFile}
	}
	if c.SharedCredentialsFile != "" {
		f.credentials = []string{c.SharedCredentialsFile}
	}
	return f
}

func (c *AccessConfig) loadAWSConfig(ctx context.Context) (aws.Config, resolveInput, error) {
	env, err := config.NewEnvConfig()
	if err != nil {
		return aws.Config{}, resolveInput{}, fmt.Errorf("reading AWS settings from the environment: %w", err)
	}
	in := resolveInput{access: c, env: env, files: c.sharedFiles(env), profileName: "default"}
	switch {
	case c.Profile != "":
		in.profileName, in.profileFrom = c.Profile, "template `profile`"
	case os.Getenv("AWS_PROFILE") != "":
		in.profileName, in.profileFrom = env.SharedConfigProfile, "AWS_PROFILE"
	case env.SharedConfigProfile != "":
		in.profileName, in.profileFrom = env.SharedConfigProfile, "AWS_DEFAULT_PROFILE"
	}
	prof, err := config.LoadSharedConfigProfile(ctx, in.profileName, func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles, o.CredentialsFiles = in.files.config, in.files.credentials
	})
	var notExist config.SharedConfigProfileNotExistError
	switch {
	case errors.As(err, &notExist) && in.profileFrom != "" && c.AccessKey == "":
		return aws.Config{}, in, fmt.Errorf("loading AWS configuration: AWS profile %q (from %s) is not in %s (%s): fix the name, or unset it to use the other credential sources", in.profileName, in.profileFrom, in.files, in.files.listProfiles())
	case errors.As(err, &notExist):
		in.profileErr = fmt.Errorf("profile %s is not in %s", in.profileName, in.files)
	case err != nil && c.AccessKey == "":
		return aws.Config{}, in, fmt.Errorf("reading AWS profile %q from %s: %w", in.profileName, in.files, err)
	case err == nil:
		in.profile = &prof
	}

	imdsState := imds.ClientDefaultEnableState
	if c.SkipMetadataAPICheck {
		imdsState = imds.ClientDisabled
	}
	opts := []func(*config.LoadOptions) error{
		config.WithAppID("packer-plugin-bakery/" + version.Version),
		config.WithSharedConfigFiles(in.files.config),
		config.WithSharedCredentialsFiles(in.files.credentials),
		config.WithEC2IMDSClientEnableState(imdsState),
		// IMDSv2 only: a build host that still answers IMDSv1 is not a
		// reason for the plugin to use it.
		config.WithEC2RoleCredentialOptions(func(o *ec2rolecreds.Options) {
			o.Client = imds.New(imds.Options{ClientEnableState: imdsState, EnableFallback: aws.FalseTernary})
		}),
		config.WithCredentialsCacheOptions(expiryWindow),
		config.WithServiceOptions(c.endpointOverrides),
	}
	if c.RawRegion != "" {
		opts = append(opts, config.WithRegion(c.RawRegion))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, c.Token)))
	}
	if r := c.retryerFor(); r != nil {
		opts = append(opts, config.WithRetryer(r))
	}
	// The SDK makes the STS clients of profile roles and web identity
	// before it resolves endpoints (AWS_ENDPOINT_URL, endpoint_url) and
	// service options (the template's custom_endpoint_sts), so on their own
	// they would call the public STS. They get the finished config instead.
	final := new(aws.Config)
	opts = append(opts,
		config.WithAssumeRoleCredentialOptions(func(o *stscreds.AssumeRoleOptions) {
			if sdk, ok := o.Client.(*sts.Client); ok {
				o.Client = &finalSTS{source: sdk, final: final}
			}
			if c.MFACode != "" {
				o.TokenProvider = onceToken(c.MFACode)
			}
		}),
		config.WithWebIdentityRoleCredentialOptions(func(o *stscreds.WebIdentityRoleOptions) {
			if sdk, ok := o.Client.(*sts.Client); ok {
				o.Client = &finalSTS{source: sdk, final: final}
			}
		}),
	)
	if c.InsecureSkipTLSVerify {
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the user asked for it
		})))
	}
	// Secrets the SDK reads from files or the environment, kept out of logs
	// in case anything ever prints them.
	registerSecrets(env.Credentials.SecretAccessKey, env.Credentials.SessionToken, env.ContainerAuthorizationToken)
	readSecretFile(env.WebIdentityTokenFilePath)
	readSecretFile(os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
	if in.profile != nil {
		for p := in.profile; p != nil; p = p.Source {
			registerSecrets(p.Credentials.SecretAccessKey, p.Credentials.SessionToken)
			readSecretFile(p.WebIdentityTokenFile)
			if p.SSOSession != nil {
				registerSSOCache(p.SSOSession.Name)
			}
		}
	}

	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	var noMFA config.AssumeRoleTokenProviderNotSetError
	if errors.As(err, &noMFA) {
		return aws.Config{}, in, fmt.Errorf("loading AWS configuration: the role of profile %s requires MFA (`mfa_serial`): set `mfa_code` to the device's current code, e.g. `packer build -var mfa_code=123456`: %w", in.profileName, err)
	}
	if err != nil {
		return aws.Config{}, in, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		region, why := c.imdsRegion(ctx, cfg, env)
		if region == "" {
			return aws.Config{}, in, fmt.Errorf("no AWS region: set `region` in the template, or AWS_REGION, or `region` in profile %s (%s); the instance metadata service gave none (%s)", in.profileName, in.files, why)
		}
		cfg.Region = region
	}
	*final = cfg
	return cfg, in, nil
}

// finalSTS is an STS client of the SDK's credential chain that calls STS
// the way every other client of the finished config does: same endpoint
// resolution, same template overrides, with the credentials the SDK gave
// its own client (the source profile's, for a role).
type finalSTS struct {
	source *sts.Client
	final  *aws.Config
}

func (f *finalSTS) client() *sts.Client {
	if f.final.Region == "" { // not loaded yet: cannot happen after LoadDefaultConfig
		return f.source
	}
	return sts.NewFromConfig(*f.final, func(o *sts.Options) {
		o.Credentials = f.source.Options().Credentials
	})
}

func (f *finalSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return f.client().AssumeRole(ctx, in, optFns...)
}

func (f *finalSTS) AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return f.client().AssumeRoleWithWebIdentity(ctx, in, optFns...)
}

func expiryWindow(o *aws.CredentialsCacheOptions) {
	o.ExpiryWindow = credentialsExpiryWindow
}

// cacheCredentials caches a provider's credentials until shortly before
// they expire; an expired credential is never handed out.
func cacheCredentials(p aws.CredentialsProvider) aws.CredentialsProvider {
	return aws.NewCredentialsCache(p, expiryWindow)
}

// imdsRegion is the last step of the region's precedence: the region of the
// EC2 instance the build runs on.
func (c *AccessConfig) imdsRegion(ctx context.Context, cfg aws.Config, env config.EnvConfig) (region, why string) {
	if c.SkipMetadataAPICheck {
		return "", "`skip_metadata_api_check` is set"
	}
	if env.EC2IMDSClientEnableState == imds.ClientDisabled {
		return "", "AWS_EC2_METADATA_DISABLED=true"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := imds.NewFromConfig(cfg, func(o *imds.Options) {
		o.EnableFallback = aws.FalseTernary
		o.Retryer = aws.NopRetryer{}
	})
	out, err := client.GetRegion(ctx, nil)
	if err != nil {
		return "", "not on EC2, or IMDSv2 unreachable: " + err.Error()
	}
	return out.Region, ""
}

// endpointOverrides runs for every client made from the config, the SDK's
// own included (the STS clients of profile roles and web identity): the
// template's endpoints win over AWS_ENDPOINT_URL* and a profile's
// endpoint_url, which the SDK already applied.
func (c *AccessConfig) endpointOverrides(_ string, options any) {
	switch o := options.(type) {
	case *ec2.Options:
		if c.CustomEndpointEC2 != "" {
			o.BaseEndpoint = aws.String(c.CustomEndpointEC2)
		}
	case *sts.Options:
		if c.CustomEndpointSTS != "" {
			o.BaseEndpoint = aws.String(c.CustomEndpointSTS)
		}
	case *iam.Options:
		if c.CustomEndpointIAM != "" {
			o.BaseEndpoint = aws.String(c.CustomEndpointIAM)
		}
	}
}

// assumeRoleProvider assumes the template's `assume_role` with the
// credentials already in cfg.
func assumeRoleProvider(cfg aws.Config, c *AccessConfig) aws.CredentialsProvider {
	ar := c.AssumeRole
	return stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), ar.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = ar.SessionName
		if o.RoleSessionName == "" {
			o.RoleSessionName = fmt.Sprintf("packer-bakery-%d", time.Now().Unix())
		}
		if ar.ExternalID != "" {
			o.ExternalID = aws.String(ar.ExternalID)
		}
		if ar.DurationSeconds != 0 {
			o.Duration = time.Duration(ar.DurationSeconds) * time.Second
		}
		if ar.Policy != "" {
			o.Policy = aws.String(ar.Policy)
		}
		for _, arn := range ar.PolicyARNs {
			o.PolicyARNs = append(o.PolicyARNs, ststypes.PolicyDescriptorType{Arn: aws.String(arn)})
		}
		for k, v := range ar.Tags {
			o.Tags = append(o.Tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		o.TransitiveTagKeys = ar.TransitiveTagKeys
		if ar.MFASerial != "" {
			o.SerialNumber = aws.String(ar.MFASerial)
			o.TokenProvider = onceToken(c.MFACode)
		}
	})
}

// Region is the build region.
func (s *Session) Region() string { return s.Config.Region }

// EC2 returns an EC2 client for region ("" for the build region).
func (s *Session) EC2(region string) *ec2.Client {
	return ec2.NewFromConfig(s.Config, func(o *ec2.Options) {
		if region != "" {
			o.Region = region
		}
	})
}

// SSM returns an SSM client for region ("" for the session's region).
func (s *Session) SSM(region string) *ssm.Client {
	return ssm.NewFromConfig(s.Config, func(o *ssm.Options) {
		if region != "" {
			o.Region = region
		}
	})
}

// STS returns an STS client for the build region.
func (s *Session) STS() *sts.Client { return sts.NewFromConfig(s.Config) }

// IAM returns an IAM client.
func (s *Session) IAM() *iam.Client { return iam.NewFromConfig(s.Config) }

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
	if !s.found {
		return Identity{}, noCredentialsError(s.chain)
	}
	src := s.source
	if src.Kind == kindIMDS {
		if role, err := s.imdsRole(ctx); err == nil && role != "" {
			src.Detail = "instance role " + role + " via IMDSv2"
		}
	}
	id, err := identifyAs(ctx, s.Config.Credentials, s.STS(), s.access, src.Detail)
	if _, ok := err.(*retrieveError); ok {
		return Identity{}, fmt.Errorf("%w\nSources looked at, in order:%s", err, explainChain(s.chain))
	}
	return id, err
}

// retrieveError is a failure to get credentials from the source that won
// (as opposed to STS rejecting them).
type retrieveError struct {
	source string
	err    error
}

func (e *retrieveError) Error() string {
	return fmt.Sprintf("retrieving AWS credentials from %s: %v%s", e.source, e.err, advice(e.err))
}

func (e *retrieveError) Unwrap() error { return e.err }

func (s *Session) imdsRole(ctx context.Context) (string, error) {
	client := imds.NewFromConfig(s.Config, func(o *imds.Options) { o.EnableFallback = aws.FalseTernary })
	out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: "iam/security-credentials/"})
	if err != nil {
		return "", err
	}
	defer out.Content.Close()
	body, err := io.ReadAll(io.LimitReader(out.Content, 4096))
	if err != nil {
		return "", err
	}
	role, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	return role, nil
}

func identifyAs(ctx context.Context, provider aws.CredentialsProvider, client callerIdentifier, access *AccessConfig, source string) (Identity, error) {
	if provider == nil {
		return Identity{}, errors.New("no AWS credentials found: set `access_key`/`secret_key`, a `profile`, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
	}
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		return Identity{}, &retrieveError{source: source, err: err}
	}
	// Whatever source they came from, keep them out of every log line.
	registerSecrets(creds.SecretAccessKey, creds.SessionToken)
	id := Identity{Source: source}
	if access.SkipCredsValidation {
		return id, nil
	}
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("checking AWS credentials from %s with STS GetCallerIdentity (set `skip_credential_validation = true` to skip): %w%s", id.Source, err, advice(err))
	}
	id.Account = aws.ToString(out.Account)
	id.ARN = aws.ToString(out.Arn)
	return id, nil
}

// advice adds what to do for the credential failures users meet most.
func advice(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
			return "\nThe temporary credentials have expired: get new ones (`aws sso login`, `aws sts get-session-token`, your CI's role step) and build again."
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException":
			return "\nThe access key is unknown or the secret key does not match it: check the source named above."
		case "UnauthorizedException":
			return "\nThe SSO portal refused the cached token: run `aws sso login` and build again."
		}
	}
	var ssoErr *ssocreds.InvalidTokenError
	msg := err.Error()
	if errors.As(err, &ssoErr) || strings.Contains(msg, "SSO token") {
		return "\nThe SSO session has expired or was never started: run `aws sso login` (with `--profile` of the profile in use) and build again."
	}
	return ""
}

func registerSecrets(secrets ...string) {
	for _, s := range secrets {
		if s != "" {
			packersdk.LogSecretFilter.Set(s)
		}
	}
}

// redactURL drops user info and query from a URL shown to people.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
