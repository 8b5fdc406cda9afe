package common

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
)

// A credentialSource is one row of the credential precedence table, as the
// build reports it and error messages list it.
type credentialSource struct {
	// Name is how the docs' precedence table and error messages call it.
	Name string
	// Applies is true for the row of the provider the SDK built.
	Applies bool
	// Detail is, for that row, what the build reports ("shared credentials
	// file /x, profile p"); for the others why they were not used.
	Detail string
	// Kind tells Identify what more it can say (the IMDS role name).
	Kind sourceKind
}

type sourceKind int

const (
	kindOther sourceKind = iota
	kindIMDS
)

// resolveInput is what the report looks at besides the SDK's provider: the
// template's options, the environment as the SDK reads it, and the selected
// profile.
type resolveInput struct {
	access      *AccessConfig
	env         config.EnvConfig
	profileName string
	profileFrom string // "template `profile`", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", or "" for default
	profile     *config.SharedConfig
	profileErr  error // why the profile could not be read (nil when absent is fine)
	files       sharedFiles
}

// The rows of the precedence table: the template's options, then the AWS
// CLI's chain as aws-sdk-go-v2's config.LoadDefaultConfig walks it.
// docs/credentials.md has the same table (TestDocsPrecedenceTable).
const (
	rowTemplateKeys = iota
	rowTemplateProfile
	rowEnvKeys
	rowWebIdentity
	rowProfile
	rowContainer
	rowIMDS
	rowCount
)

var rowNames = [rowCount]string{
	rowTemplateKeys:    "template `access_key` and `secret_key`",
	rowTemplateProfile: "template `profile`",
	rowEnvKeys:         "environment AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN)",
	rowWebIdentity:     "environment AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (web identity)",
	rowProfile:         "profile from AWS_PROFILE, else `default` (shared config and credentials files)",
	rowContainer:       "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI (ECS, CodeBuild, EKS Pod Identity)",
	rowIMDS:            "EC2 instance role from the instance metadata service (IMDSv2)",
}

// sdkRow is the table row of the provider the SDK built, from the first of
// the sources it reports (the rest is the trail behind it: a source
// profile, the role assumed with it). Every source not named here is one
// of a profile's (keys, source_profile, credential_source, SSO, process,
// login, web identity).
func sdkRow(sources []aws.CredentialSource, templateProfile bool) (row int, ok bool) {
	if len(sources) == 0 || sources[0] == aws.CredentialSourceUndefined {
		return 0, false
	}
	switch sources[0] {
	case aws.CredentialSourceCode:
		return rowTemplateKeys, true
	case aws.CredentialSourceEnvVars:
		return rowEnvKeys, true
	case aws.CredentialSourceEnvVarsSTSWebIDToken:
		return rowWebIdentity, true
	case aws.CredentialSourceHTTP:
		return rowContainer, true
	case aws.CredentialSourceIMDS:
		return rowIMDS, true
	}
	if templateProfile {
		return rowTemplateProfile, true
	}
	return rowProfile, true
}

// providerSources is what the SDK says its provider was built from.
func providerSources(p aws.CredentialsProvider) []aws.CredentialSource {
	if s, ok := p.(aws.CredentialProviderSource); ok {
		return s.ProviderSources()
	}
	return nil
}

// credentialChain is the precedence table for this build: the row of the
// provider the SDK built (sources) says what it is; every other row says
// why it was not used, which is what the SDK cannot tell. found is false
// when the SDK fell through to the instance role and the template or the
// environment turned the metadata service off: no source applies.
func credentialChain(in resolveInput, sources []aws.CredentialSource) (chain []credentialSource, won credentialSource, found bool) {
	a, env := in.access, in.env
	row, found := sdkRow(sources, a.Profile != "")
	imdsOff := ifElse(a.SkipMetadataAPICheck, "`skip_metadata_api_check` is set", ifElse(env.EC2IMDSClientEnableState == imdsDisabled, "AWS_EC2_METADATA_DISABLED=true", ""))
	chain = make([]credentialSource, rowCount)
	for i := range chain {
		chain[i] = credentialSource{Name: rowNames[i], Detail: whyNot(i, in, imdsOff)}
	}
	chain[rowIMDS].Kind = kindIMDS
	if !found || (row == rowIMDS && imdsOff != "") {
		return chain, credentialSource{}, false
	}
	chain[row].Applies = true
	chain[row].Detail = describeRow(row, in)
	return chain, chain[row], true
}

// whyNot says why a row was not used.
func whyNot(row int, in resolveInput, imdsOff string) string {
	byTemplate := "not used: the template sets `profile`"
	templateProfile := in.access.Profile != ""
	switch row {
	case rowTemplateKeys:
		return "not set"
	case rowTemplateProfile:
		return ifElse(templateProfile, profileWhyNot(in), "not set")
	case rowEnvKeys:
		return ifElse(templateProfile, byTemplate, "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set")
	case rowWebIdentity:
		return ifElse(templateProfile, byTemplate, "AWS_WEB_IDENTITY_TOKEN_FILE not set")
	case rowProfile:
		return ifElse(templateProfile, byTemplate, profileWhyNot(in))
	case rowContainer:
		return "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set"
	default:
		return ifElse(imdsOff != "", imdsOff, "not reached: a source above it was used")
	}
}

// profileWhyNot: a profile the SDK passed over is missing or has no
// credentials of its own (the SDK then goes on to container and instance
// credentials).
func profileWhyNot(in resolveInput) string {
	if in.profileErr != nil {
		// A broken or missing named profile is an error, reported by
		// LoadAWSConfig; here it only explains the row.
		return in.profileErr.Error()
	}
	return fmt.Sprintf("profile %s has no credentials in %s", in.profileName, in.files)
}

// describeRow says what the winning row is, in the build's words.
func describeRow(row int, in resolveInput) string {
	a, env := in.access, in.env
	switch row {
	case rowTemplateKeys:
		return "template `access_key` " + MaskAccessKeyID(a.AccessKey) + withToken(a.Token != "", "`token`")
	case rowEnvKeys:
		return "environment (AWS_ACCESS_KEY_ID " + MaskAccessKeyID(env.Credentials.AccessKeyID) + withToken(env.Credentials.SessionToken != "", "AWS_SESSION_TOKEN") + ")"
	case rowWebIdentity:
		return fmt.Sprintf("web identity token file %s, role %s (AWS_WEB_IDENTITY_TOKEN_FILE)", env.WebIdentityTokenFilePath, env.RoleARN)
	case rowTemplateProfile, rowProfile:
		if in.profile == nil {
			return "profile " + in.profileName
		}
		return describeProfile(in.profile, in.profileFrom)
	case rowContainer:
		if env.ContainerCredentialsRelativePath != "" {
			return "container credentials from 169.254.170.2" + env.ContainerCredentialsRelativePath + " (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"
		}
		return "container credentials from " + redactURL(env.ContainerCredentialsEndpoint) + " (AWS_CONTAINER_CREDENTIALS_FULL_URI)"
	default:
		return "instance role via IMDSv2"
	}
}

// describeProfile says in words what a profile resolves to.
func describeProfile(p *config.SharedConfig, from string) string {
	name := "profile " + p.Profile
	if from != "" {
		name += " (" + from + ")"
	}
	var base string
	switch {
	case p.Source != nil:
		base = "source profile " + p.Source.Profile + ": " + describeProfile(p.Source, "")
	case p.Credentials.HasKeys():
		file := strings.TrimSpace(strings.TrimPrefix(p.Credentials.Source, "SharedConfigCredentials:"))
		if p.RoleARN == "" {
			return fmt.Sprintf("shared credentials file %s, %s, access key %s%s", file, name, MaskAccessKeyID(p.Credentials.AccessKeyID), withToken(p.Credentials.SessionToken != "", "aws_session_token"))
		}
		base = fmt.Sprintf("keys in %s, access key %s", file, MaskAccessKeyID(p.Credentials.AccessKeyID))
	case p.CredentialSource != "":
		base = "credential_source = " + p.CredentialSource
	case p.WebIdentityTokenFile != "":
		return fmt.Sprintf("web identity token file %s, role %s, via %s", p.WebIdentityTokenFile, p.RoleARN, name)
	case p.SSOSession != nil || p.SSOStartURL != "":
		session := p.SSOSessionName
		if session == "" {
			session = "legacy sso_start_url " + p.SSOStartURL
		} else {
			session = "sso_session " + session
		}
		return fmt.Sprintf("SSO role %s in account %s via %s (%s)", p.SSORoleName, p.SSOAccountID, name, session)
	case p.CredentialProcess != "":
		base = "credential_process"
		if p.RoleARN == "" {
			return "credential_process of " + name
		}
	case p.LoginSession != "":
		return "aws login session of " + name
	}
	if p.RoleARN != "" {
		return fmt.Sprintf("assumed role %s via %s (%s)", p.RoleARN, name, base)
	}
	return base
}

// explainChain lists what each source above (and including) the winner
// said, for an error message: the user sees each source that was looked at
// and why it was not used.
func explainChain(chain []credentialSource) string {
	var b strings.Builder
	for i, s := range chain {
		mark := "no: "
		if s.Applies {
			mark = "USED, failed: "
		}
		fmt.Fprintf(&b, "\n  %d. %s — %s%s", i+1, s.Name, mark, s.Detail)
		if s.Applies {
			b.WriteString("\n  (as in the AWS CLI, the first configured source is used; the ones below it are not tried)")
			break
		}
	}
	return b.String()
}

// noCredentialsError says that no source applies, listing each.
func noCredentialsError(chain []credentialSource) error {
	return fmt.Errorf("no AWS credentials found. Sources tried, in order:%s\nSet `access_key`/`secret_key` or `profile` in the template, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the environment (see docs/credentials.md)", explainChain(chain))
}

// MaskAccessKeyID shows at most the first 4 and last 4 characters of an
// access key ID, and fewer of a short one: enough to tell keys apart, never
// enough to be one.
func MaskAccessKeyID(id string) string {
	switch n := len(id); {
	case n == 0:
		return "(empty)"
	case n < 8:
		return "…"
	case n < 16:
		return id[:4] + "…"
	default:
		return id[:4] + "…" + id[n-4:]
	}
}

func withToken(has bool, what string) string {
	if has {
		return " with " + what
	}
	return ""
}

func ifElse(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// onceToken is an stscreds TokenProvider for `mfa_code`: an MFA code is
// valid for one AssumeRole call, so a second request (a refresh of expired
// role credentials) fails with advice rather than sending a used code.
func onceToken(code string) func() (string, error) {
	var mu sync.Mutex
	used := false
	return func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if used {
			return "", errors.New("the role's credentials expired and `mfa_code` was already used (an MFA code works once): raise `duration_seconds` (or the profile's `duration_seconds`) to cover the whole build")
		}
		used = true
		return code, nil
	}
}

// readSecretFile registers the content of a file that holds a secret (a web
// identity token, a container authorization token) with the log filter.
func readSecretFile(path string) {
	if path == "" {
		return
	}
	if data, err := os.ReadFile(path); err == nil {
		registerSecrets(strings.TrimSpace(string(data)))
	}
}

// registerSSOCache registers the tokens `aws sso login` cached for an SSO
// session with the log filter.
func registerSSOCache(session string) {
	path, err := ssocreds.StandardCachedTokenFilepath(session)
	if err != nil {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var cached struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		ClientSecret string `json:"clientSecret"`
	}
	if json.Unmarshal(data, &cached) == nil {
		registerSecrets(cached.AccessToken, cached.RefreshToken, cached.ClientSecret)
	}
}
