//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AMIDistributionConfig

package ebs

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// AMIDistributionConfig is what happens to the AMI once CreateImage has made
// it: encryption, copies to other regions, sharing, and the attributes set
// on the instance before imaging or on every copy afterwards.
type AMIDistributionConfig struct {
	// Regions to copy the AMI to, e.g. `["eu-west-1", "us-west-2"]`. The
	// copies are made in parallel, each with the AMI's `tags`, its
	// snapshots' `snapshot_tags`, the sharing and the attributes below. The
	// build region, if listed, is skipped; duplicates are ignored. A build
	// that fails removes every copy it made, in every region.
	AMIRegions []string `mapstructure:"ami_regions" required:"false"`
	// Encrypt the AMI's snapshots. `true`: the image is made under a
	// temporary name, copied encrypted (with `kms_key_id`, or the region's
	// default EBS key) under `ami_name`, and the unencrypted image and its
	// snapshots are removed, as amazon-ebs does; copies in `ami_regions`
	// are encrypted too (with `region_kms_key_ids`, or each region's
	// default key). `false` or unset: the build encrypts nothing, and the
	// AMI keeps the source AMI's encryption (EC2 cannot decrypt).
	AMIEncryptBootVolume config.Trilean `mapstructure:"encrypt_boot" required:"false"`
	// The KMS key (ID, `alias/…` or ARN) to encrypt the AMI with in the
	// build region; needs `encrypt_boot = true`. Copies in `ami_regions` use
	// each region's default EBS key unless `region_kms_key_ids` names one.
	AMIKmsKeyId string `mapstructure:"kms_key_id" required:"false"`
	// The KMS key per region, e.g. `{ "eu-west-1" = "alias/images" }`; needs
	// `encrypt_boot = true`. Set, it must name every region of `ami_regions`
	// and no other (`""` means the region's default EBS key, which cannot
	// be shared). Its entry for the build region wins over `kms_key_id`.
	AMIRegionKMSKeyIDs map[string]string `mapstructure:"region_kms_key_ids" required:"false"`
	// AWS account IDs (12 digits) that may launch the AMI, in every region.
	AMIUsers []string `mapstructure:"ami_users" required:"false"`
	// Groups that may launch the AMI. The only group EC2 knows is `all`,
	// which makes the AMI public.
	AMIGroups []string `mapstructure:"ami_groups" required:"false"`
	// ARNs of AWS Organizations whose accounts may launch the AMI, e.g.
	// `arn:aws:organizations::123456789012:organization/o-abcdefghij`.
	AMIOrgArns []string `mapstructure:"ami_org_arns" required:"false"`
	// ARNs of organizational units whose accounts may launch the AMI, e.g.
	// `arn:aws:organizations::123456789012:ou/o-abcdefghij/ou-ab12-cdefgh34`.
	AMIOuArns []string `mapstructure:"ami_ou_arns" required:"false"`
	// AWS account IDs (12 digits) that may create volumes from the AMI's
	// snapshots, in every region.
	SnapshotUsers []string `mapstructure:"snapshot_users" required:"false"`
	// Groups that may create volumes from the AMI's snapshots: only `all`
	// (public snapshots).
	SnapshotGroups []string `mapstructure:"snapshot_groups" required:"false"`
	// Set ENA support on the stopped instance before it is imaged, so the
	// AMI has it. `false` turns it off; unset keeps the source AMI's.
	// Needs `ec2:ModifyInstanceAttribute`.
	AMIENASupport config.Trilean `mapstructure:"ena_support" required:"false"`
	// Set SR-IOV (Intel 82599 VF) networking on the stopped instance before
	// it is imaged. Needs `ec2:ModifyInstanceAttribute`.
	AMISriovNetSupport bool `mapstructure:"sriov_support" required:"false"`
	// `v2.0`: instances launched from the AMI (and every copy) require IMDSv2
	// tokens. Unset keeps EC2's default. It cannot be undone on the AMI.
	AMIIMDSSupport string `mapstructure:"imds_support" required:"false"`
	// The AMI's boot mode. CreateImage can only force `uefi` (the instance
	// must have booted with UEFI); otherwise the AMI keeps the boot mode of
	// the instance, i.e. of the source AMI. `legacy-bios` and
	// `uefi-preferred` are refused rather than silently ignored (amazon-ebs's
	// ebs builder has no `boot_mode` at all): choose a source AMI with the
	// boot mode you need.
	BootMode string `mapstructure:"boot_mode" required:"false"`
	// When the AMI (and every copy) is deprecated, in RFC 3339, e.g.
	// `2027-01-01T00:00:00Z`: in the future, and at most 10 years away.
	DeprecationTime string `mapstructure:"deprecate_at" required:"false"`
	// Build and provision, but make no AMI (a test run): nothing is imaged,
	// copied or shared, and the build has no artifact.
	AMISkipCreateImage bool `mapstructure:"skip_create_ami" required:"false"`
	// Keep no AMI in the build region: the image made there is only the
	// source of the copies in `ami_regions`, and is removed (with its
	// snapshots) once they are made. Needs `ami_regions` with another region.
	AMISkipBuildRegion bool `mapstructure:"skip_save_build_region" required:"false"`
	// `hvm` or `paravirtual`. As with amazon-ebs's ebs builder, it does not
	// change the AMI, which keeps the instance's virtualization type; it is
	// accepted for migrated templates. `ena_support` and `sriov_support`
	// need an HVM source AMI, checked as soon as it is chosen; `hvm` here
	// vouches for it (as in amazon-ebs), `paravirtual` is refused with them.
	AMIVirtType string `mapstructure:"ami_virtualization_type" required:"false"`
}

var (
	accountIDPattern = regexp.MustCompile(`^\d{12}$`)
	orgARNPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$`)
	ouARNPattern     = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
	amiRegionPattern = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-\d+$`)
	kmsKeyPatterns   = []*regexp.Regexp{
		regexp.MustCompile(`^(mrk-)?[a-f0-9][a-f0-9-]+$`),
		regexp.MustCompile(`^alias/[a-zA-Z0-9:/_-]+$`),
		regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]*:\d{12}:key/(mrk-)?[a-f0-9][a-f0-9-]+$`),
		regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]*:\d{12}:alias/[a-zA-Z0-9:/_-]+$`),
	}
)

// Boot modes EC2 knows; only uefi can be asked of CreateImage.
const (
	bootModeUEFI          = "uefi"
	bootModeLegacyBIOS    = "legacy-bios"
	bootModeUEFIPreferred = "uefi-preferred"
	imdsSupportV2         = "v2.0"
	maxDeprecation        = 10 * 365 * 24 * time.Hour
)

func validKMSKey(key string) bool {
	for _, p := range kmsKeyPatterns {
		if p.MatchString(key) {
			return true
		}
	}
	return false
}

// sharing says whether the AMI is shared with other accounts (a group
// "all" is public: no key can be shared with everyone either).
func (a *AMIDistributionConfig) sharing() bool {
	return len(a.AMIUsers) > 0 || len(a.AMIOrgArns) > 0 || len(a.AMIOuArns) > 0
}

// prepare checks every option against the others; now is the time the
// deprecation date must be after.
func (a *AMIDistributionConfig) prepare(now time.Time) (warnings []string, errs []error) {
	a.AMIRegions = dedupe(a.AMIRegions)
	a.AMIUsers = dedupe(a.AMIUsers)
	a.AMIGroups = dedupe(a.AMIGroups)
	a.AMIOrgArns = dedupe(a.AMIOrgArns)
	a.AMIOuArns = dedupe(a.AMIOuArns)
	a.SnapshotUsers = dedupe(a.SnapshotUsers)
	a.SnapshotGroups = dedupe(a.SnapshotGroups)

	for _, r := range a.AMIRegions {
		if known(r) && !amiRegionPattern.MatchString(r) {
			errs = append(errs, fmt.Errorf("`ami_regions`: %q is not a region name like eu-west-1", r))
		}
	}
	for _, r := range sortedKeys(a.AMIRegionKMSKeyIDs) {
		if known(r) && !slices.Contains(a.AMIRegions, r) {
			errs = append(errs, fmt.Errorf("`region_kms_key_ids` has a key for %s, which is not in `ami_regions`: add the region there or remove the key", r))
		}
	}
	if len(a.AMIRegionKMSKeyIDs) > 0 {
		for _, r := range a.AMIRegions {
			if _, ok := a.AMIRegionKMSKeyIDs[r]; !ok && known(r) {
				errs = append(errs, fmt.Errorf("`ami_regions` has %s but `region_kms_key_ids` has no key for it: add one (\"\" for the region's default EBS key)", r))
			}
		}
	}

	var keys []string
	if a.AMIKmsKeyId != "" {
		keys = append(keys, a.AMIKmsKeyId)
	}
	defaultKeyRegions := []string{}
	for _, r := range sortedKeys(a.AMIRegionKMSKeyIDs) {
		if k := a.AMIRegionKMSKeyIDs[r]; k != "" {
			keys = append(keys, k)
		} else {
			defaultKeyRegions = append(defaultKeyRegions, r)
		}
	}
	if len(keys) > 0 && !a.AMIEncryptBootVolume.True() {
		errs = append(errs, errors.New("`kms_key_id` and `region_kms_key_ids` only apply with `encrypt_boot = true`: set it, or remove the keys"))
	}
	const keyForms = "is not a key ID, `alias/…` name or KMS ARN (an alias needs the `alias/` prefix)"
	if k := a.AMIKmsKeyId; k != "" && known(k) && !validKMSKey(k) {
		errs = append(errs, fmt.Errorf("`kms_key_id` %q %s", k, keyForms))
	}
	for _, r := range sortedKeys(a.AMIRegionKMSKeyIDs) {
		if k := a.AMIRegionKMSKeyIDs[r]; k != "" && known(k) && !validKMSKey(k) {
			errs = append(errs, fmt.Errorf("`region_kms_key_ids` %s: %q %s", r, k, keyForms))
		}
	}
	// A region's default EBS key (aws/ebs) cannot be used by other
	// accounts: sharing an AMI or snapshot encrypted with it shares nothing
	// they can launch. amazon-ebs refuses this too.
	encryptedWithDefault := a.AMIEncryptBootVolume.True() && a.AMIKmsKeyId == "" && len(a.AMIRegionKMSKeyIDs) == 0
	if a.sharing() || len(a.SnapshotUsers) > 0 {
		what := "`ami_users`/`ami_org_arns`/`ami_ou_arns`"
		if !a.sharing() {
			what = "`snapshot_users`"
		}
		if encryptedWithDefault {
			errs = append(errs, fmt.Errorf("%s: the AMI would be encrypted with the default EBS key, which other accounts cannot use: set `kms_key_id` (and `region_kms_key_ids` for copies) to a customer managed key whose policy lets them", what))
		}
		if len(a.AMIRegionKMSKeyIDs) > 0 && len(defaultKeyRegions) > 0 {
			errs = append(errs, fmt.Errorf("%s: `region_kms_key_ids` leaves %s on the default EBS key, which other accounts cannot use: give a customer managed key", what, strings.Join(defaultKeyRegions, ", ")))
		}
		if a.AMIEncryptBootVolume.True() && !encryptedWithDefault {
			warnings = append(warnings, "The AMI is shared and encrypted with a customer managed KMS key: the accounts it is shared with can launch it only if the key's policy (or a grant) lets them use the key (kms:DescribeKey, kms:CreateGrant, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*)")
		}
	}

	for _, u := range append(append([]string{}, a.AMIUsers...), a.SnapshotUsers...) {
		if known(u) && !accountIDPattern.MatchString(u) {
			opt := "ami_users"
			if slices.Contains(a.SnapshotUsers, u) {
				opt = "snapshot_users"
			}
			errs = append(errs, fmt.Errorf("`%s`: %q is not an AWS account ID (12 digits, e.g. \"123456789012\")", opt, u))
		}
	}
	for _, g := range a.AMIGroups {
		if known(g) && g != "all" {
			errs = append(errs, fmt.Errorf("`ami_groups`: %q is not a group EC2 knows: the only one is \"all\" (public); to share with accounts use `ami_users`", g))
		}
	}
	for _, g := range a.SnapshotGroups {
		if known(g) && g != "all" {
			errs = append(errs, fmt.Errorf("`snapshot_groups`: %q is not a group EC2 knows: the only one is \"all\" (public); to share with accounts use `snapshot_users`", g))
		}
	}
	for _, arn := range a.AMIOrgArns {
		if known(arn) && !orgARNPattern.MatchString(arn) {
			errs = append(errs, fmt.Errorf("`ami_org_arns`: %q is not an organization ARN like arn:aws:organizations::123456789012:organization/o-abcdefghij", arn))
		}
	}
	for _, arn := range a.AMIOuArns {
		if known(arn) && !ouARNPattern.MatchString(arn) {
			errs = append(errs, fmt.Errorf("`ami_ou_arns`: %q is not an organizational unit ARN like arn:aws:organizations::123456789012:ou/o-abcdefghij/ou-ab12-cdefgh34", arn))
		}
	}
	if slices.Contains(a.AMIGroups, "all") && a.AMIEncryptBootVolume.True() {
		errs = append(errs, errors.New("`ami_groups = [\"all\"]` makes the AMI public, but EC2 cannot make an encrypted AMI public: remove one of `ami_groups` and `encrypt_boot`"))
	}
	if slices.Contains(a.SnapshotGroups, "all") && a.AMIEncryptBootVolume.True() {
		errs = append(errs, errors.New("`snapshot_groups = [\"all\"]` makes the snapshots public, but EC2 cannot make encrypted snapshots public: remove one of `snapshot_groups` and `encrypt_boot`"))
	}

	switch a.AMIIMDSSupport {
	case "", imdsSupportV2:
	default:
		if known(a.AMIIMDSSupport) {
			errs = append(errs, fmt.Errorf("`imds_support` %q: the only value is \"v2.0\" (leave it unset for EC2's default)", a.AMIIMDSSupport))
		}
	}
	switch a.BootMode {
	case "", bootModeUEFI:
	case bootModeLegacyBIOS, bootModeUEFIPreferred:
		errs = append(errs, fmt.Errorf("`boot_mode` %q: CreateImage can only force \"uefi\"; an AMI made from an instance keeps the source AMI's boot mode, so choose a source AMI that has %s (or remove `boot_mode`)", a.BootMode, a.BootMode))
	default:
		if known(a.BootMode) {
			errs = append(errs, fmt.Errorf("`boot_mode` %q is not one of legacy-bios, uefi, uefi-preferred", a.BootMode))
		}
	}
	if a.DeprecationTime != "" && known(a.DeprecationTime) {
		at, err := time.Parse(time.RFC3339, a.DeprecationTime)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("`deprecate_at` %q is not an RFC 3339 time like 2027-01-01T00:00:00Z", a.DeprecationTime))
		case !at.After(now):
			errs = append(errs, fmt.Errorf("`deprecate_at` %s is in the past: EC2 only deprecates at a future time", a.DeprecationTime))
		case at.Sub(now) > maxDeprecation:
			errs = append(errs, fmt.Errorf("`deprecate_at` %s is more than 10 years away, EC2's limit", a.DeprecationTime))
		}
	}
	switch a.AMIVirtType {
	case "", "hvm":
	case "paravirtual":
		if a.AMIENASupport.True() || a.AMISriovNetSupport {
			errs = append(errs, errors.New("`ena_support` and `sriov_support` need an HVM AMI, but `ami_virtualization_type` is \"paravirtual\""))
		}
	default:
		if known(a.AMIVirtType) {
			errs = append(errs, fmt.Errorf("`ami_virtualization_type` %q is not \"hvm\" or \"paravirtual\"", a.AMIVirtType))
		}
	}
	if a.AMISkipBuildRegion && len(a.AMIRegions) == 0 {
		errs = append(errs, errors.New("`skip_save_build_region` keeps no AMI in the build region, so it needs `ami_regions` to copy the AMI to; without them the build would make nothing"))
	}
	if a.AMISkipCreateImage {
		var moot []string
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"ami_regions", len(a.AMIRegions) > 0},
			{"encrypt_boot", a.AMIEncryptBootVolume != config.TriUnset},
			{"ami_users", len(a.AMIUsers) > 0},
			{"ami_groups", len(a.AMIGroups) > 0},
			{"ami_org_arns", len(a.AMIOrgArns) > 0},
			{"ami_ou_arns", len(a.AMIOuArns) > 0},
			{"snapshot_users", len(a.SnapshotUsers) > 0},
			{"snapshot_groups", len(a.SnapshotGroups) > 0},
			{"deprecate_at", a.DeprecationTime != ""},
			{"imds_support", a.AMIIMDSSupport != ""},
			{"skip_save_build_region", a.AMISkipBuildRegion},
		} {
			if o.set {
				moot = append(moot, "`"+o.name+"`")
			}
		}
		if len(moot) > 0 {
			warnings = append(warnings, fmt.Sprintf("`skip_create_ami` is set: no AMI is made, so %s have no effect", strings.Join(moot, ", ")))
		}
	}
	return warnings, errs
}

// copyRegions are the regions the AMI is copied to: ami_regions without the
// build region.
func (a *AMIDistributionConfig) copyRegions(buildRegion string) []string {
	var out []string
	for _, r := range a.AMIRegions {
		if r != buildRegion {
			out = append(out, r)
		}
	}
	return out
}

// kmsKey is the key to encrypt with in region ("" for its default key).
func (a *AMIDistributionConfig) kmsKey(region, buildRegion string) string {
	if k, ok := a.AMIRegionKMSKeyIDs[region]; ok {
		return k
	}
	if region == buildRegion {
		return a.AMIKmsKeyId
	}
	return ""
}

func dedupe(in []string) []string {
	if len(in) == 0 {
		return in
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
