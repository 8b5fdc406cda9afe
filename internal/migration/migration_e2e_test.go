//go:build e2e

// Package migration_test is the standing suite of migrated templates: each
// folder of testdata/ holds a template written for the stock amazon-ebs
// and ansible plugins, in a shape public repositories use. The test renames
// its types mechanically, as a migrating user does, and runs `packer
// validate` with bakery (JSON templates also through `packer hcl2_upgrade`
// first); where bakery's answer differs from the stock plugins' on purpose,
// the case says so and why, and the migration guide must say it too. With
// the stock plugins built (`bench/build-stock.sh`, into .cache/stock), the
// stock side of every claim is checked as well.
package migration_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

var suite testbed.Suite

func TestMain(m *testing.M) {
	code := testbed.RunSuite(m, testbed.Options{FaultProxy: true}, &suite)
	if stockDir != "" {
		_ = os.RemoveAll(stockDir)
	}
	os.Exit(code)
}

// outcome is what `packer validate` answers.
type outcome struct {
	valid bool
	say   []string // text the output must hold (warnings, errors)
}

type migrationCase struct {
	dir    string
	bakery outcome
	// stock is the stock plugins' answer where it differs from bakery's
	// on purpose (nil: stock answers valid/invalid as bakery does), and
	// why says why bakery differs.
	stock *outcome
	why   string
	// guide is what docs/migrating-from-amazon-ebs.md must say about the
	// case's differences.
	guide []string
	// callsAWS: validating it calls AWS (a data source), so the stock side
	// is not run (it would call AWS itself, not the test-bed).
	callsAWS bool
	// JSON only: whether `packer hcl2_upgrade`'s output validates (with
	// bakery once renamed, and with stock as written).
	upgradeValid bool
}

var cases = []migrationCase{
	{dir: "hcl-ansible-direct", bakery: outcome{valid: true}},
	{
		// The provisioner's warning shows when it runs (packer has no way
		// to show a provisioner's warnings at validate); the bake below
		// checks it.
		dir:    "hcl-sftp-workaround",
		bakery: outcome{valid: true},
		guide:  []string{"`sftp_command = \"/usr/libexec/openssh/sftp-server -e\"`", "`ansible_proxy_key_type` (`ECDSA` or\n`RSA`)"},
	},
	{dir: "hcl-build-override", bakery: outcome{valid: true}},
	{
		dir: "hcl-old-spellings",
		bakery: outcome{valid: true, say: []string{
			"`enable_t2_unlimited` is deprecated: it means `enable_unlimited_credits = true`",
			"`spot_price_auto_product` is ignored: amazon-ebs deprecated it",
		}},
		guide: []string{"| `tag`, `run_tag`, `run_volume_tag`, `snapshot_tag`", "| `enable_t2_unlimited = true` |", "| `no_ephemeral = true` |", "| `spot_price_auto_product` |"},
	},
	{
		dir: "hcl-network-precedence",
		bakery: outcome{valid: true, say: []string{
			"`vpc_filter` is ignored, as in amazon-ebs: `vpc_id` is set and wins",
			"`subnet_filter` is ignored, as in amazon-ebs: `subnet_id` is set and wins",
			"`temporary_security_group_source_cidrs` is ignored, as in amazon-ebs",
		}},
		guide: []string{"`vpc_id` over `vpc_filter`, `subnet_id` over `subnet_filter`"},
	},
	{dir: "hcl-existing-keypair", bakery: outcome{valid: true}},
	{dir: "hcl-encrypted-regions", bakery: outcome{valid: true}},
	{
		dir:    "hcl-kms-without-encrypted",
		bakery: outcome{say: []string{"`kms_key_id`", "`encrypted = true`"}},
		stock:  &outcome{valid: true},
		why:    "EC2 refuses a KMS key on a volume that is not encrypted, so amazon-ebs fails at launch; bakery says so at validate",
		guide:  []string{"| `kms_key_id` on a block device | accepted with `encrypted` unset | an error unless `encrypted = true`"},
	},
	{dir: "hcl-data-source", bakery: outcome{valid: true}, callsAWS: true},
	{
		dir: "json-clean-ami-name",
		bakery: outcome{valid: true, say: []string{
			"`clean_ami_name` is deprecated: it is `clean_resource_name` under its old name",
		}},
		stock: &outcome{say: []string{`function "clean_ami_name" not defined`}},
		why:   "amazon-ebs 1.8.2 no longer knows the pre-1.5 name of clean_resource_name; legacy JSON templates still use it",
		guide: []string{"| `{{ clean_ami_name … }}` in a JSON template |", "run `packer fix` before `packer hcl2_upgrade`"},
		// hcl2_upgrade cannot translate the piped build variable in `tags`
		// (`{{ .SourceAMIName | clean_ami_name }}`, even once `packer fix`
		// has renamed the function), and leaves the source block as JSON
		// templating that neither plugin can render: invalid both ways.
		upgradeValid: false,
	},
	{dir: "json-user-variables", bakery: outcome{valid: true}, upgradeValid: true},
}

// TestE2EMigratedTemplatesValidate: every case, renamed, gets bakery's
// answer; the stock plugins, when built, give the answer the case claims.
func TestE2EMigratedTemplatesValidate(t *testing.T) {
	stockPath := stockPlugins(t)
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			dir := migrate(t, c.dir)
			out, err := validate(t, dir)
			c.bakery.check(t, "bakery", out, err)
			if c.stock != nil && c.why == "" {
				t.Error("the case claims stock differs but not why")
			}
			if stockPath == "" || c.callsAWS {
				return
			}
			want := c.stock
			if want == nil {
				want = &outcome{valid: c.bakery.valid}
			}
			out, err = validateStock(t, stockPath, stockCopy(t, c.dir))
			want.check(t, "stock", out, err)
		})
	}
}

// TestE2EHCL2UpgradeValidates: `packer hcl2_upgrade` of each JSON case (the
// stock template: it writes `data "amazon-ami"` for amazon builders only),
// renamed, validates with bakery whenever it validates with stock (checked
// when the stock plugins are built) and as the case records; with and
// without `packer fix` first, as the guide advises.
func TestE2EHCL2UpgradeValidates(t *testing.T) {
	stockPath := stockPlugins(t)
	for _, c := range cases {
		if !strings.HasPrefix(c.dir, "json-") {
			continue
		}
		t.Run(c.dir, func(t *testing.T) {
			for _, fix := range []bool{false, true} {
				bakery, stock := upgrade(t, c.dir, fix, stockPath)
				if stock != nil && *stock && !bakery {
					t.Errorf("hcl2_upgrade's output (packer fix first: %v) validates with stock but not with bakery", fix)
				}
				if bakery != c.upgradeValid {
					t.Errorf("hcl2_upgrade's output (packer fix first: %v): bakery valid = %v, want %v", fix, bakery, c.upgradeValid)
				}
			}
		})
	}
}

// upgrade runs (`packer fix` and) `packer hcl2_upgrade` on the stock JSON
// of case name and validates the output, renamed, with bakery; and as
// written with the stock plugins when stockPath is set (nil: not run).
func upgrade(t *testing.T, name string, fix bool, stockPath string) (bakery bool, stock *bool) {
	t.Helper()
	src := stockCopy(t, name)
	json := filepath.Join(src, "template.json")
	if fix {
		out, err := exec.Command(suite.Packer, "fix", json).Output()
		if err != nil {
			t.Fatalf("packer fix: %v", err)
		}
		if err := os.WriteFile(json, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	upgraded := filepath.Join(src, "upgraded.pkr.hcl")
	if out, err := packer(t, suite.PluginPath, "hcl2_upgrade", "-output-file="+upgraded, json); err != nil {
		t.Fatalf("packer hcl2_upgrade: %v\n%s", err, out)
	}
	text, err := os.ReadFile(upgraded)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(json); err != nil {
		t.Fatal(err)
	}
	if stockPath != "" {
		out, err := validateStock(t, stockPath, src)
		ok := err == nil
		t.Logf("stock validate of hcl2_upgrade's output (fix %v): %v\n%s", fix, err, out)
		stock = &ok
	}
	// Beside the playbook, as the JSON was: {{template_dir}} became path.root.
	dir := migrate(t, name)
	if err := os.Remove(filepath.Join(dir, "template.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "upgraded.pkr.hcl"), []byte(rename(string(text))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := validate(t, dir)
	t.Logf("bakery validate of hcl2_upgrade's output (fix %v): %v\n%s", fix, err, out)
	return err == nil, stock
}

// TestE2EMigratedJSONWithCleanAMINameBakes: the legacy JSON template bakes
// with bakery-ebs and bakery-ansible (the stock sftp_command workaround
// included): the AMI's name and tags are cleaned as amazon-ebs cleans
// them, and the build warns about what is not needed.
func TestE2EMigratedJSONWithCleanAMINameBakes(t *testing.T) {
	suite.Bed.ResetAfter(t)
	dir := migrate(t, "json-clean-ami-name")
	// Pointed at the test-bed's "instance" and its ansible-core, as the
	// bed's other templates are; the rest is the template as migrated.
	path := filepath.Join(dir, "template.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(data, &tpl); err != nil {
		t.Fatal(err)
	}
	builder := tpl["builders"].([]any)[0].(map[string]any)
	builder["ssh_host"] = suite.Bed.SSHHost
	builder["ssh_port"] = suite.Bed.SSHPort
	tpl["provisioners"].([]any)[0].(map[string]any)["command"] = filepath.Join(testbed.CacheDir(suite.Root), "ansible-2.19", "bin", "ansible-playbook")
	if data, err = json.Marshal(tpl); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, "build", "-color=false", path)
	cmd.Env = append(suite.Bed.PackerEnv(suite.PluginPath, t.TempDir()), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("packer build: %v\n%s", err, out)
	}
	for _, want := range []string{
		"`clean_ami_name` is deprecated",
		"Warning: `sftp_command` is ignored: it only applies to the proxy",
		"Ansible connects directly",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the build output lacks %q:\n%s", want, out)
		}
	}
	client, err := suite.Bed.EC2(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs.Images) != 1 {
		t.Fatalf("%d AMIs, want 1", len(imgs.Images))
	}
	img := imgs.Images[0]
	// "shop 2026-01-02T15:04:05Z" with each ':' made '-', as amazon-ebs does.
	if name := aws.ToString(img.Name); !regexp.MustCompile(`^shop \d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(Z|[-+]\d\d-\d\d)$`).MatchString(name) {
		t.Errorf("AMI name %q, want the cleaned timestamp", name)
	}
	tags := map[string]string{}
	for _, tag := range img.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if base := tags["Base"]; base == "" || strings.ContainsAny(base, ":{}") {
		t.Errorf("tag Base = %q, want the source AMI's cleaned name", base)
	}
	res, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Reservations {
		for _, inst := range r.Instances {
			if inst.State.Name != types.InstanceStateNameTerminated {
				t.Errorf("instance %s is %s after the build", aws.ToString(inst.InstanceId), inst.State.Name)
			}
		}
	}
}

// TestMigrationGuideMatchesTheSuite: the guide says what each case claims,
// and every old spelling its table lists is exercised by a case.
func TestE2EMigrationGuideMatchesTheSuite(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(suite.Root, "docs", "migrating-from-amazon-ebs.md"))
	if err != nil {
		t.Fatal(err)
	}
	guide := string(data)
	var templates strings.Builder
	for _, c := range cases {
		for _, want := range c.guide {
			if !strings.Contains(unwrap(guide), unwrap(want)) {
				t.Errorf("%s: the migration guide does not say %q", c.dir, want)
			}
		}
		files, _ := filepath.Glob(filepath.Join("testdata", c.dir, "*"))
		for _, f := range files {
			text, _ := os.ReadFile(f)
			templates.Write(text)
		}
	}
	_, table, ok := strings.Cut(guide, "**Old spellings")
	if table, _, ok = strings.Cut(table, "**Refused on purpose"); !ok {
		t.Fatal("the guide has no old-spellings table before the refused options")
	}
	option := regexp.MustCompile("^\\| `([a-z_]+)")
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		m := option.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rows++
		if name := m[1]; !strings.Contains(templates.String(), name) {
			t.Errorf("the guide's table lists `%s`, which no migrated template uses", name)
		}
	}
	if rows < 4 {
		t.Errorf("found %d rows in the guide's old-spellings table: the check above proves little", rows)
	}
}

func (o outcome) check(t *testing.T, who, out string, err error) {
	t.Helper()
	if o.valid && (err != nil || !strings.Contains(out, "The configuration is valid.")) {
		t.Errorf("%s: packer validate failed (%v), want valid:\n%s", who, err, out)
	}
	if !o.valid && err == nil {
		t.Errorf("%s: packer validate accepted it, want it refused:\n%s", who, out)
	}
	for _, want := range o.say {
		if !strings.Contains(unwrap(out), want) {
			t.Errorf("%s: packer validate does not say %q:\n%s", who, want, out)
		}
	}
}

// unwrap joins packer's wrapped lines so that a phrase split over two
// lines is found.
func unwrap(s string) string { return strings.Join(strings.Fields(s), " ") }

var (
	requiredPlugins = regexp.MustCompile(`(?s)required_plugins\s*\{.*?\n  \}`)
	renames         = strings.NewReplacer(
		`"amazon-ebs"`, `"bakery-ebs"`,
		`source.amazon-ebs.`, `source.bakery-ebs.`,
		`"amazon-ami"`, `"bakery-ami"`,
		`data.amazon-ami.`, `data.bakery-ami.`,
		`provisioner "ansible"`, `provisioner "bakery-ansible"`,
	)
	jsonAnsible = regexp.MustCompile(`"type":\s*"ansible"`)
)

// rename is what a migrating user does to a template: the four renames of
// the guide's first section, and bakery in required_plugins.
func rename(text string) string {
	text = requiredPlugins.ReplaceAllString(text, "required_plugins {\n    bakery = {\n      source  = \"github.com/packer-bakery/bakery\"\n      version = \">= 0.1.0\"\n    }\n  }")
	text = renames.Replace(text)
	return jsonAnsible.ReplaceAllString(text, `"type": "bakery-ansible"`)
}

// migrate copies testdata/name, renamed, into a folder of its own (with
// playbook.yml beside it, as the templates expect) and returns it.
func migrate(t *testing.T, name string) string {
	t.Helper()
	return copyCase(t, name, rename)
}

// stockCopy is the case as written, for the stock plugins.
func stockCopy(t *testing.T, name string) string {
	t.Helper()
	return copyCase(t, name, func(s string) string { return s })
}

func copyCase(t *testing.T, name string, edit func(string) string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	play, err := os.ReadFile(filepath.Join("testdata", "playbook.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "playbook.yml"), play, 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", name, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata/%s: no files (%v)", name, err)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(edit(string(text))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The team key pair's private key (hcl-existing-keypair): made here so
	// that no private key is committed.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "migration test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "builder.pem"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// validate runs bakery's `packer validate` on dir (its one template file).
func validate(t *testing.T, dir string) (string, error) {
	t.Helper()
	target := dir
	if _, err := os.Stat(filepath.Join(dir, "template.json")); err == nil {
		target = filepath.Join(dir, "template.json")
	}
	return packer(t, suite.PluginPath, "validate", target)
}

func packer(t *testing.T, pluginPath string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, args...)
	cmd.Env = append(suite.Bed.PackerEnv(pluginPath, t.TempDir()), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var (
	stockOnce sync.Once
	stockDir  string
	stockErr  error
)

// stockPlugins installs the stock amazon and ansible plugins, when
// bench/build-stock.sh has built them, into a plugin folder of their own;
// "" when they are not built. TestMain removes the folder.
func stockPlugins(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testbed.CacheDir(suite.Root), "stock", "bin")
	plugins := map[string]string{
		"github.com/hashicorp/amazon":  filepath.Join(bin, "packer-plugin-amazon-v1.8.2"),
		"github.com/hashicorp/ansible": filepath.Join(bin, "packer-plugin-ansible-v1.1.2"),
	}
	for _, p := range plugins {
		if _, err := os.Stat(p); err != nil {
			t.Logf("stock plugins not built (%v): the stock side of each case is not checked; run bench/build-stock.sh", err)
			return ""
		}
	}
	stockOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bakery-stock-plugins-")
		if err != nil {
			stockErr = err
			return
		}
		stockDir = dir
		for source, path := range plugins {
			cmd := exec.Command(suite.Packer, "plugins", "install", "--path", path, source)
			cmd.Env = append(os.Environ(), "PACKER_PLUGIN_PATH="+dir, "CHECKPOINT_DISABLE=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				stockErr = err
				t.Logf("%s", out)
				return
			}
		}
	})
	if stockErr != nil {
		t.Fatalf("installing the stock plugins: %v", stockErr)
	}
	return stockDir
}

// validateStock runs `packer validate` with the stock plugins. Every
// request they might send leaves through a proxy on a closed loopback
// port, so nothing reaches AWS; the stock ansible provisioner asks
// ansible-playbook for its version, so the pinned one is on PATH.
func validateStock(t *testing.T, pluginPath, dir string) (string, error) {
	t.Helper()
	target := dir
	if _, err := os.Stat(filepath.Join(dir, "template.json")); err == nil {
		target = filepath.Join(dir, "template.json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Packer, "validate", target)
	cmd.Env = append(suite.Bed.PackerEnv(pluginPath, t.TempDir()),
		"HOME="+t.TempDir(),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=",
		"PATH="+filepath.Join(testbed.CacheDir(suite.Root), "ansible-2.19", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}
