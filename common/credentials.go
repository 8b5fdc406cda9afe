package common

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
)

// A credentialSource is one place credentials can come from.
type credentialSource struct {
	// Name is how the docs' precedence table and error messages call it.
	Name string
	// Applies says whether this source is configured; the first that is
	// wins, as in the AWS CLI (a configured source that then fails is an
	// error, not a reason to try the next).
	Applies bool
	// Detail is, when it applies, what the build reports ("shared
	// credentials file /x, profile p"); otherwise why it does not apply.
	Detail string
	// Kind tells Identify what more it can say (the IMDS role name).
	Kind sourceKind
}

type sourceKind int

const (
	kindOther sourceKind = iota
	kindIMDS
)

// resolveInput is what credentialChain looks at: the template's options,
// the environment as the SDK reads it, and the selected profile.
type resolveInput struct {
	access      *AccessConfig
	env         config.EnvConfig
	profileName string
	profileFrom string // "template `profile`", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", or "" for default
	profile     *config.SharedConfig
	profileErr  error // why the profile could not be read (nil when absent is fine)
	files       sharedFiles
}

// credentialChain lists, in precedence order, every place the plugin looks
// for credentials. It is the one place that order is written down: the
// template's options first, then the AWS CLI's chain exactly as
// aws-sdk-go-v2's config.LoadDefaultConfig walks it (the SDK does the actual
// resolving; TestCredentialChainMatchesSDK keeps the two in step, and
// docs/credentials.md has the same table, checked by TestDocsPrecedenceTable).
// A template `assume_role` then assumes a role on top of the winner.
func credentialChain(in resolveInput) []credentialSource {
	a, env := in.access, in.env
	templateProfile := a.Profile != ""
	byTemplate := "not used: the template sets `profile`"
	chain := []credentialSource{
		{
			Name:    "template `access_key` and `secret_key`",
			Applies: a.AccessKey != "",
			Detail:  ifElse(a.AccessKey != "", "template `access_key` "+MaskAccessKeyID(a.AccessKey)+withToken(a.Token != "", "`token`"), "not set"),
		},
		profileSource("template `profile`", templateProfile, in, "not set"),
		{
			Name:    "environment AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN)",
			Applies: !templateProfile && env.Credentials.HasKeys(),
			Detail: ifElse(templateProfile, byTemplate, ifElse(env.Credentials.HasKeys(),
				"environment (AWS_ACCESS_KEY_ID "+MaskAccessKeyID(env.Credentials.AccessKeyID)+withToken(env.Credentials.SessionToken != "", "AWS_SESSION_TOKEN")+")",
				"AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set")),
		},
		{
			Name:    "environment AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (web identity)",
			Applies: !templateProfile && env.WebIdentityTokenFilePath != "",
			Detail: ifElse(templateProfile, byTemplate, ifElse(env.WebIdentityTokenFilePath != "",
				fmt.Sprintf("web identity token file %s, role %s (AWS_WEB_IDENTITY_TOKEN_FILE)", env.WebIdentityTokenFilePath, env.RoleARN),
				"AWS_WEB_IDENTITY_TOKEN_FILE not set")),
		},
		profileSource("profile from AWS_PROFILE, else `default` (shared config and credentials files)", !templateProfile, in, byTemplate),
		{
			Name:    "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI (ECS, CodeBuild, EKS Pod Identity)",
			Applies: env.ContainerCredentialsRelativePath != "" || env.ContainerCredentialsEndpoint != "",
			Detail:  containerDetail(env),
		},
		{
			Name:    "EC2 instance role from the instance metadata service (IMDSv2)",
			Applies: !a.SkipMetadataAPICheck && env.EC2IMDSClientEnableState != imdsDisabled,
			Detail:  ifElse(a.SkipMetadataAPICheck, "`skip_metadata_api_check` is set", ifElse(env.EC2IMDSClientEnableState == imdsDisabled, "AWS_EC2_METADATA_DISABLED=true", "instance role via IMDSv2")),
			Kind:    kindIMDS,
		},
	}
	return chain
}

// profileSource is the chain entry of the selected profile. selected says
// whether this entry is the one that reads it (template `profile`, or else
// AWS_PROFILE/default); notSelected is the detail when it is not. A profile
// without credentials of its own does not apply: the SDK then goes on to
// container and instance credentials (and assumes the profile's role_arn,
// if any, with them).
func profileSource(name string, selected bool, in resolveInput, notSelected string) credentialSource {
	src := credentialSource{Name: name}
	switch {
	case !selected:
		src.Detail = notSelected
	case in.profileErr != nil:
		// A broken or missing named profile is an error, reported by
		// LoadAWSConfig; here it only explains the entry.
		src.Detail = in.profileErr.Error()
	case in.profile == nil || !profileHasCredentials(in.profile):
		src.Detail = fmt.Sprintf("profile %s has no credentials in %s", in.profileName, in.files)
	default:
		src.Applies = true
		src.Detail = describeProfile(in.profile, in.profileFrom)
	}
	return src
}

// profileHasCredentials mirrors the cases of the SDK's resolveCredsFromProfile
// that do not fall through to container and instance credentials.
func profileHasCredentials(p *config.SharedConfig) bool {
	return p.Source != nil || p.Credentials.HasKeys() || p.CredentialSource != "" ||
		p.WebIdentityTokenFile != "" || p.SSOSession != nil || p.SSOAccountID != "" || p.SSORoleName != "" ||
		p.SSOStartURL != "" || p.CredentialProcess != "" || p.LoginSession != ""
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

func containerDetail(env config.EnvConfig) string {
	switch {
	case env.ContainerCredentialsRelativePath != "":
		return "container credentials from 169.254.170.2" + env.ContainerCredentialsRelativePath + " (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"
	case env.ContainerCredentialsEndpoint != "":
		return "container credentials from " + redactURL(env.ContainerCredentialsEndpoint) + " (AWS_CONTAINER_CREDENTIALS_FULL_URI)"
	}
	return "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set"
}

// winner is the first source that applies, or false when none does.
func winner(chain []credentialSource) (credentialSource, bool) {
	for _, s := range chain {
		if s.Applies {
			return s, true
		}
	}
	return credentialSource{}, false
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
