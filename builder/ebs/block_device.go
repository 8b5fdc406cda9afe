//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type BlockDevice

package ebs

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// BlockDevice is one `launch_block_device_mappings` or
// `ami_block_device_mappings` block: a volume (or an instance-store volume,
// or the removal of one) at a device name.
type BlockDevice struct {
	// The device name as the instance sees it, e.g. `/dev/xvda` (the root
	// device of Amazon Linux) or `/dev/sdf`. Required.
	DeviceName string `mapstructure:"device_name" required:"true"`
	// The EBS volume type: `gp2`, `gp3`, `io1`, `io2`, `st1`, `sc1` or
	// `standard`. Unset: EC2's default for the device (the snapshot's type,
	// or `gp2`).
	VolumeType string `mapstructure:"volume_type" required:"false"`
	// The size of the volume in GiB. Unset: the size of the snapshot. A new
	// empty volume (no `snapshot_id`, not the root device) needs it.
	VolumeSize int64 `mapstructure:"volume_size" required:"false"`
	// Provisioned IOPS: only for `io1` (100–64000, at most 50 per GiB),
	// `io2` (100–256000, at most 500 per GiB) and `gp3` (3000–16000).
	// Required for `io1` and `io2`.
	IOPS *int64 `mapstructure:"iops" required:"false"`
	// Throughput in MiB/s, `gp3` only: 125–1000. Unset: gp3's baseline of
	// 125.
	Throughput *int64 `mapstructure:"throughput" required:"false"`
	// Whether the volume is encrypted. Unset: the snapshot's setting or the
	// account's EBS encryption default.
	Encrypted *bool `mapstructure:"encrypted" required:"false"`
	// The KMS key (ID, alias or ARN) that encrypts the volume. Unlike
	// amazon-ebs, which accepts it with `encrypted` unset, it needs
	// `encrypted = true`: a key that silently does nothing is a mistake
	// worth catching.
	KmsKeyId string `mapstructure:"kms_key_id" required:"false"`
	// The snapshot the volume is made from.
	SnapshotId string `mapstructure:"snapshot_id" required:"false"`
	// Whether the volume is deleted when the instance is terminated. In
	// `launch_block_device_mappings` it defaults to `true`, so the build
	// instance's volumes go with it (amazon-ebs defaults to `false`, which
	// leaves every extra launch volume behind, billed). In
	// `ami_block_device_mappings` unset means EC2's default for instances
	// launched from the AMI.
	DeleteOnTermination *bool `mapstructure:"delete_on_termination" required:"false"`
	// Removes the device the source AMI maps at `device_name`. Nothing but
	// `device_name` may be set with it.
	NoDevice bool `mapstructure:"no_device" required:"false"`
	// Maps an instance-store volume, `ephemeral0` to `ephemeral23`, instead
	// of an EBS volume. No EBS setting may be set with it.
	VirtualName string `mapstructure:"virtual_name" required:"false"`
}

// BlockDevices is a list of mappings, as one option gives them.
type BlockDevices []BlockDevice

// Limits of EBS volumes, by type.
var (
	volumeTypes = []string{"gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"}
	iopsRange   = map[string][2]int64{"io1": {100, 64000}, "io2": {100, 256000}, "gp3": {3000, 16000}}
	iopsPerGiB  = map[string]int64{"io1": 50, "io2": 500}
	sizeRange   = map[string][2]int64{
		"gp2": {1, 16384}, "gp3": {1, 16384}, "io1": {4, 16384}, "io2": {4, 65536},
		"st1": {125, 16384}, "sc1": {125, 16384}, "standard": {1, 1024},
	}
)

const (
	minThroughput = 125
	maxThroughput = 1000
)

// prepare checks every mapping of the option named opt and returns every
// problem, each naming the option, the device and what to do.
func (bds BlockDevices) prepare(opt string) []error {
	var errs []error
	seen := map[string]bool{}
	for i, b := range bds {
		where := fmt.Sprintf("`%s` #%d", opt, i+1)
		if b.DeviceName != "" {
			where = fmt.Sprintf("`%s` %s", opt, b.DeviceName)
			if seen[b.DeviceName] && known(b.DeviceName) {
				errs = append(errs, fmt.Errorf("%s: the device is mapped twice; merge the two blocks", where))
			}
			seen[b.DeviceName] = true
		}
		for _, e := range b.problems() {
			errs = append(errs, fmt.Errorf("%s: %s", where, e))
		}
	}
	return errs
}

// problems lists what is wrong with one mapping, in words for the user.
// maxVolumeSize is the largest EBS volume of any type (io2 Block Express).
const maxVolumeSize = 65536

func (b BlockDevice) problems() []string {
	var p []string
	if b.DeviceName == "" {
		p = append(p, "`device_name` is required, e.g. \"/dev/sdf\"")
	}
	ebs := b.ebsSettings()
	switch {
	case b.NoDevice:
		if len(ebs) > 0 || b.VirtualName != "" {
			p = append(p, fmt.Sprintf("`no_device` removes the device; remove %s too", strings.Join(append(ebs, quoteIf(b.VirtualName != "", "virtual_name")...), ", ")))
		}
		return p
	case b.VirtualName != "":
		if known(b.VirtualName) && !validVirtualName(b.VirtualName) {
			p = append(p, fmt.Sprintf("`virtual_name` %q: use ephemeral0 to ephemeral23", b.VirtualName))
		}
		if len(ebs) > 0 {
			p = append(p, fmt.Sprintf("`virtual_name` maps an instance-store volume, which has no %s: remove them, or `virtual_name`", strings.Join(ebs, ", ")))
		}
		return p
	}

	vt := b.VolumeType
	if vt != "" && known(vt) && !contains(volumeTypes, vt) {
		p = append(p, fmt.Sprintf("`volume_type` %q: use one of %s", vt, strings.Join(volumeTypes, ", ")))
		vt = "" // the checks below would only repeat it
	}
	if b.VolumeSize < 0 {
		p = append(p, fmt.Sprintf("`volume_size` %d: give a size in GiB", b.VolumeSize))
	} else if b.VolumeSize > maxVolumeSize {
		// Also before AWS sees it: an int32 would wrap it into a small size.
		p = append(p, fmt.Sprintf("`volume_size` %d GiB: EBS volumes are at most %d GiB", b.VolumeSize, maxVolumeSize))
	} else if r, ok := sizeRange[vt]; ok && b.VolumeSize != 0 && (b.VolumeSize < r[0] || b.VolumeSize > r[1]) {
		p = append(p, fmt.Sprintf("`volume_size` %d GiB: %s volumes are %d to %d GiB", b.VolumeSize, vt, r[0], r[1]))
	}
	if b.IOPS != nil {
		r, ok := iopsRange[vt]
		switch {
		case !ok && vt != "":
			p = append(p, fmt.Sprintf("`iops` only applies to io1, io2 and gp3 volumes, not %s: remove it, or change `volume_type`", vt))
		case !ok:
			p = append(p, "`iops` needs `volume_type` io1, io2 or gp3")
		case *b.IOPS < r[0] || *b.IOPS > r[1]:
			p = append(p, fmt.Sprintf("`iops` %d: %s volumes take %d to %d", *b.IOPS, vt, r[0], r[1]))
		case iopsPerGiB[vt] > 0 && b.VolumeSize > 0 && *b.IOPS > iopsPerGiB[vt]*b.VolumeSize:
			p = append(p, fmt.Sprintf("`iops` %d on %d GiB: %s allows at most %d IOPS per GiB; lower `iops` or raise `volume_size` to %d",
				*b.IOPS, b.VolumeSize, vt, iopsPerGiB[vt], (*b.IOPS+iopsPerGiB[vt]-1)/iopsPerGiB[vt]))
		}
	} else if vt == "io1" || vt == "io2" {
		p = append(p, fmt.Sprintf("%s volumes need `iops` (%d to %d)", vt, iopsRange[vt][0], iopsRange[vt][1]))
	}
	if b.Throughput != nil {
		switch {
		case vt != "gp3":
			p = append(p, "`throughput` only applies to gp3 volumes: set `volume_type = \"gp3\"`, or remove it")
		case *b.Throughput < minThroughput || *b.Throughput > maxThroughput:
			p = append(p, fmt.Sprintf("`throughput` %d: gp3 takes %d to %d MiB/s", *b.Throughput, minThroughput, maxThroughput))
		}
	}
	if b.KmsKeyId != "" && (b.Encrypted == nil || !*b.Encrypted) {
		p = append(p, "`kms_key_id` only applies to encrypted volumes: set `encrypted = true`")
	}
	if b.SnapshotId != "" && known(b.SnapshotId) && !strings.HasPrefix(b.SnapshotId, "snap-") {
		p = append(p, fmt.Sprintf("`snapshot_id` %q is not a snapshot ID like snap-0123456789abcdef0", b.SnapshotId))
	}
	return p
}

// ebsSettings names the EBS options that are set.
func (b BlockDevice) ebsSettings() []string {
	var set []string
	add := func(on bool, name string) { set = append(set, quoteIf(on, name)...) }
	add(b.VolumeType != "", "volume_type")
	add(b.VolumeSize != 0, "volume_size")
	add(b.IOPS != nil, "iops")
	add(b.Throughput != nil, "throughput")
	add(b.Encrypted != nil, "encrypted")
	add(b.KmsKeyId != "", "kms_key_id")
	add(b.SnapshotId != "", "snapshot_id")
	add(b.DeleteOnTermination != nil, "delete_on_termination")
	return set
}

func quoteIf(on bool, name string) []string {
	if !on {
		return nil
	}
	return []string{"`" + name + "`"}
}

func validVirtualName(s string) bool {
	n, ok := strings.CutPrefix(s, "ephemeral")
	if !ok || n == "" || len(n) > 2 || (len(n) == 2 && n[0] == '0') {
		return false
	}
	v := 0
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return v <= 23
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ec2 is the mappings as EC2 takes them. deleteByDefault is what an unset
// `delete_on_termination` means: true for the build instance's volumes.
func (bds BlockDevices) ec2(deleteByDefault bool) []types.BlockDeviceMapping {
	if len(bds) == 0 {
		return nil
	}
	out := make([]types.BlockDeviceMapping, 0, len(bds))
	for _, b := range bds {
		m := types.BlockDeviceMapping{DeviceName: aws.String(b.DeviceName)}
		switch {
		case b.NoDevice:
			m.NoDevice = aws.String("")
		case b.VirtualName != "":
			m.VirtualName = aws.String(b.VirtualName)
		default:
			e := &types.EbsBlockDevice{
				Encrypted:           b.Encrypted,
				DeleteOnTermination: b.DeleteOnTermination,
			}
			if e.DeleteOnTermination == nil && deleteByDefault {
				e.DeleteOnTermination = aws.Bool(true)
			}
			if b.VolumeType != "" {
				e.VolumeType = types.VolumeType(b.VolumeType)
			}
			if b.VolumeSize > 0 {
				e.VolumeSize = aws.Int32(int32(b.VolumeSize))
			}
			if b.IOPS != nil {
				e.Iops = aws.Int32(int32(*b.IOPS))
			}
			if b.Throughput != nil {
				e.Throughput = aws.Int32(int32(*b.Throughput))
			}
			if b.KmsKeyId != "" {
				e.KmsKeyId = aws.String(b.KmsKeyId)
			}
			if b.SnapshotId != "" {
				e.SnapshotId = aws.String(b.SnapshotId)
			}
			m.Ebs = e
		}
		out = append(out, m)
	}
	return out
}

// checkSizes fails for a mapping that would make a volume of no known size:
// one with neither `volume_size` nor `snapshot_id`, at a device the source
// AMI does not map (whose snapshot would give the size). EC2 would refuse
// the launch with a less helpful message.
func (bds BlockDevices) checkSizes(opt string, img types.Image) error {
	mapped := map[string]bool{}
	for _, m := range img.BlockDeviceMappings {
		mapped[aws.ToString(m.DeviceName)] = true
	}
	var missing []string
	for _, b := range bds {
		if b.NoDevice || b.VirtualName != "" || b.VolumeSize > 0 || b.SnapshotId != "" || mapped[b.DeviceName] {
			continue
		}
		missing = append(missing, b.DeviceName)
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("`%s` %s: a new volume needs `volume_size` (or `snapshot_id`); the source AMI %s maps no such device",
		opt, strings.Join(missing, ", "), aws.ToString(img.ImageId))
}

// kmsKeys are the KMS keys the mappings encrypt with, as the template names
// them (ID, ARN, alias or alias ARN).
func (bds BlockDevices) kmsKeys() []string {
	var keys []string
	for _, b := range bds {
		if b.KmsKeyId != "" && !slices.Contains(keys, b.KmsKeyId) {
			keys = append(keys, b.KmsKeyId)
		}
	}
	sort.Strings(keys)
	return keys
}
