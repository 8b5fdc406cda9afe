package common

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// isolateAWSEnv makes the SDK see no AWS configuration but what the test
// writes: every AWS_* variable unset, empty shared config and credentials
// files in a temp dir (so the developer's real ~/.aws is never read), and
// no instance metadata service. It returns the two files' paths.
func isolateAWSEnv(t *testing.T) (configFile, credentialsFile string) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "") // restored after the test
			os.Unsetenv(name)
		}
	}
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	configFile = filepath.Join(dir, "config")
	credentialsFile = filepath.Join(dir, "credentials")
	for _, f := range []string{configFile, credentialsFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credentialsFile)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return configFile, credentialsFile
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAccessConfigPrepare_regionNames(t *testing.T) {
	// Regions the SDK's endpoint partitions know (aws, aws-cn, aws-us-gov,
	// the ISO partitions and the European Sovereign Cloud, whose prefix has
	// four letters).
	for _, region := range []string{
		"us-east-1", "eu-central-2", "ap-southeast-7", "il-central-1", "mx-central-1",
		"cn-northwest-1", "us-gov-west-1", "us-iso-east-1", "us-isob-east-1", "us-isof-south-1",
		"eu-isoe-west-1", "eusc-de-east-1",
	} {
		t.Run(region, func(t *testing.T) {
			c := &AccessConfig{RawRegion: region}
			if errs := c.Prepare(); len(errs) != 0 {
				t.Errorf("Prepare rejected region %s: %v", region, errs)
			}
		})
	}
	for _, region := range []string{"us-east", "US-EAST-1", "useast1", "us_east_1", "us-east-1a", " us-east-1"} {
		t.Run("bad "+region, func(t *testing.T) {
			c := &AccessConfig{RawRegion: region}
			errs := c.Prepare()
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), "`region`") {
				t.Errorf("Prepare(%q) = %v, want one `region` error", region, errs)
			}
			c.SkipRegionValidation = true
			if errs := c.Prepare(); len(errs) != 0 {
				t.Errorf("Prepare(%q) with skip_region_validation = %v, want none", region, errs)
			}
		})
	}
}

func TestLoadAWSConfig_region(t *testing.T) {
	t.Run("AWS_REGION", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_REGION", "eu-north-1")
		cfg, err := (&AccessConfig{}).LoadAWSConfig(t.Context())
		if err != nil || cfg.Region != "eu-north-1" {
			t.Errorf("region = %q, %v; want eu-north-1 from AWS_REGION", cfg.Region, err)
		}
	})
	t.Run("AWS_DEFAULT_REGION", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_DEFAULT_REGION", "eu-south-1")
		cfg, err := (&AccessConfig{}).LoadAWSConfig(t.Context())
		if err != nil || cfg.Region != "eu-south-1" {
			t.Errorf("region = %q, %v; want eu-south-1 from AWS_DEFAULT_REGION", cfg.Region, err)
		}
	})
	t.Run("template beats environment", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_REGION", "eu-north-1")
		cfg, err := (&AccessConfig{RawRegion: "ap-south-1"}).LoadAWSConfig(t.Context())
		if err != nil || cfg.Region != "ap-south-1" {
			t.Errorf("region = %q, %v; want the template's ap-south-1", cfg.Region, err)
		}
	})
	t.Run("profile's region", func(t *testing.T) {
		configFile, _ := isolateAWSEnv(t)
		writeFile(t, configFile, "[profile baker]\nregion = ca-west-1\n")
		cfg, err := (&AccessConfig{Profile: "baker"}).LoadAWSConfig(t.Context())
		if err != nil || cfg.Region != "ca-west-1" {
			t.Errorf("region = %q, %v; want ca-west-1 from profile baker", cfg.Region, err)
		}
	})
	t.Run("no region anywhere", func(t *testing.T) {
		isolateAWSEnv(t)
		_, err := (&AccessConfig{}).LoadAWSConfig(t.Context())
		if err == nil {
			t.Fatal("LoadAWSConfig succeeded without a region")
		}
		for _, w := range []string{"region", "AWS_REGION"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	})
}

func TestLoadAWSConfig_credentials(t *testing.T) {
	t.Run("template access_key beats environment", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
		cfg, err := (&AccessConfig{AccessKey: "AKIDTEMPLATE", SecretKey: "tmpl-secret", Token: "tmpl-token", RawRegion: "us-east-1"}).LoadAWSConfig(t.Context())
		if err != nil {
			t.Fatalf("LoadAWSConfig: %v", err)
		}
		creds, err := cfg.Credentials.Retrieve(t.Context())
		if err != nil {
			t.Fatalf("Retrieve: %v", err)
		}
		if creds.AccessKeyID != "AKIDTEMPLATE" || creds.SecretAccessKey != "tmpl-secret" || creds.SessionToken != "tmpl-token" {
			t.Errorf("credentials = %s/%s/%s, want the template's", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
		}
		if got := sourceOf(t, &AccessConfig{AccessKey: "AKIDTEMPLATE", SecretKey: "tmpl-secret", RawRegion: "us-east-1"}); got != "template `access_key` AKID…" {
			t.Errorf("source reported as %q", got)
		}
	})
	t.Run("environment when the template has none", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
		cfg, err := (&AccessConfig{RawRegion: "us-east-1"}).LoadAWSConfig(t.Context())
		if err != nil {
			t.Fatalf("LoadAWSConfig: %v", err)
		}
		creds, err := cfg.Credentials.Retrieve(t.Context())
		if err != nil || creds.AccessKeyID != "AKIDFROMENV" {
			t.Fatalf("credentials = %s, %v; want AKIDFROMENV", creds.AccessKeyID, err)
		}
		if got := sourceOf(t, &AccessConfig{RawRegion: "us-east-1"}); got != "environment (AWS_ACCESS_KEY_ID AKID…)" {
			t.Errorf("source reported as %q", got)
		}
	})
	t.Run("template profile from the shared files", func(t *testing.T) {
		configFile, credentialsFile := isolateAWSEnv(t)
		writeFile(t, configFile, "[profile baker]\nregion = eu-west-3\n")
		writeFile(t, credentialsFile, "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n"+
			"[baker]\naws_access_key_id = AKIDBAKER\naws_secret_access_key = b\n")
		// A profile named in the template is what the user asked for, even
		// with keys in the environment.
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
		access := &AccessConfig{Profile: "baker"}
		cfg, err := access.LoadAWSConfig(t.Context())
		if err != nil {
			t.Fatalf("LoadAWSConfig: %v", err)
		}
		creds, err := cfg.Credentials.Retrieve(t.Context())
		if err != nil || creds.AccessKeyID != "AKIDBAKER" {
			t.Fatalf("credentials = %s, %v; want profile baker's AKIDBAKER", creds.AccessKeyID, err)
		}
		if cfg.Region != "eu-west-3" {
			t.Errorf("region = %q, want the profile's eu-west-3", cfg.Region)
		}
		want := "shared credentials file " + credentialsFile + ", profile baker (template `profile`), access key AKID…"
		if got := sourceOf(t, access); got != want {
			t.Errorf("source reported as %q, want %q", got, want)
		}
	})
	t.Run("shared_credentials_file option", func(t *testing.T) {
		isolateAWSEnv(t)
		other := filepath.Join(t.TempDir(), "other-credentials")
		writeFile(t, other, "[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = o\n")
		cfg, err := (&AccessConfig{SharedCredentialsFile: other, RawRegion: "us-east-1"}).LoadAWSConfig(t.Context())
		if err != nil {
			t.Fatalf("LoadAWSConfig: %v", err)
		}
		creds, err := cfg.Credentials.Retrieve(t.Context())
		if err != nil || creds.AccessKeyID != "AKIDOTHER" {
			t.Errorf("credentials = %s, %v; want AKIDOTHER from shared_credentials_file", creds.AccessKeyID, err)
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		isolateAWSEnv(t)
		_, err := (&AccessConfig{Profile: "nope", RawRegion: "us-east-1"}).LoadAWSConfig(t.Context())
		if err == nil || !strings.Contains(err.Error(), "loading AWS configuration") || !strings.Contains(err.Error(), "nope") {
			t.Errorf("err = %v, want a wrapped error naming profile nope", err)
		}
	})
}

func TestLoadAWSConfig_options(t *testing.T) {
	isolateAWSEnv(t)
	cfg, err := (&AccessConfig{RawRegion: "us-east-1", MaxRetries: 7}).LoadAWSConfig(t.Context())
	if err != nil {
		t.Fatalf("LoadAWSConfig: %v", err)
	}
	if cfg.Retryer == nil || cfg.Retryer().MaxAttempts() != 7 {
		t.Error("the retryer does not allow max_retries (7) attempts")
	}
	if _, adaptive := cfg.Retryer().(*retry.AdaptiveMode); !adaptive {
		t.Errorf("retryer %T, want the SDK's adaptive mode", cfg.Retryer())
	}
	if cfg.Retryer() != cfg.Retryer() {
		t.Error("each client gets its own retryer: parallel calls would not share one budget")
	}

	dflt, err := (&AccessConfig{RawRegion: "us-east-1"}).LoadAWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := dflt.Retryer().MaxAttempts(); got != DefaultMaxAttempts {
		t.Errorf("default attempts %d, want %d", got, DefaultMaxAttempts)
	}
	t.Setenv("AWS_MAX_ATTEMPTS", "4")
	env, err := (&AccessConfig{RawRegion: "us-east-1"}).LoadAWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The SDK then builds each client's retryer from the environment.
	if env.Retryer != nil || env.RetryMaxAttempts != 4 {
		t.Errorf("with AWS_MAX_ATTEMPTS=4: plugin retryer set %v, SDK attempts %d; want the SDK's 4", env.Retryer != nil, env.RetryMaxAttempts)
	}
	if !strings.HasPrefix(cfg.AppID, "packer-plugin-bakery/") {
		t.Errorf("AppID = %q, want the plugin named in the user agent", cfg.AppID)
	}
}

// sourceOf is what the build would report as the credentials' source.
func sourceOf(t *testing.T, access *AccessConfig) string {
	t.Helper()
	sess, err := NewSession(t.Context(), access)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return sess.source.Detail
}
