package ebs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
)

func TestBlockDevicesPrepare(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	yes, no := aws.Bool(true), aws.Bool(false)
	tests := []struct {
		name    string
		bds     BlockDevices
		wantErr []string // one substring per expected error; none means valid
	}{
		{name: "root override", bds: BlockDevices{{DeviceName: "/dev/xvda", VolumeSize: 20, VolumeType: "gp3"}}},
		{name: "gp3 with iops and throughput", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeSize: 100, VolumeType: "gp3", IOPS: i64(4000), Throughput: i64(250)}}},
		{name: "io1 at its limits", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeSize: 1280, VolumeType: "io1", IOPS: i64(64000)}}},
		{name: "io2 at its limits", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeSize: 600, VolumeType: "io2", IOPS: i64(256000)}}},
		{name: "encrypted with a key", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeSize: 10, Encrypted: yes, KmsKeyId: "alias/ebs"}}},
		{name: "no_device", bds: BlockDevices{{DeviceName: "/dev/sdb", NoDevice: true}}},
		{name: "instance store", bds: BlockDevices{{DeviceName: "/dev/sdb", VirtualName: "ephemeral0"}, {DeviceName: "/dev/sdc", VirtualName: "ephemeral23"}}},
		{name: "from a snapshot", bds: BlockDevices{{DeviceName: "/dev/sdf", SnapshotId: "snap-0123456789abcdef0"}}},

		{name: "no device_name", bds: BlockDevices{{VolumeSize: 8}}, wantErr: []string{"`opt` #1: `device_name` is required"}},
		{name: "device mapped twice", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeSize: 8}, {DeviceName: "/dev/sdf", VolumeSize: 9}}, wantErr: []string{"`opt` /dev/sdf: the device is mapped twice"}},
		{name: "volume_type misspelt", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp4"}}, wantErr: []string{"`volume_type` \"gp4\": use one of gp2, gp3, io1, io2, st1, sc1, standard"}},
		{name: "iops on gp2", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp2", IOPS: i64(3000)}}, wantErr: []string{"`iops` only applies to io1, io2 and gp3 volumes, not gp2"}},
		{name: "iops without type", bds: BlockDevices{{DeviceName: "/dev/sdf", IOPS: i64(3000)}}, wantErr: []string{"`iops` needs `volume_type` io1, io2 or gp3"}},
		{name: "io1 iops too low", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "io1", IOPS: i64(99)}}, wantErr: []string{"`iops` 99: io1 volumes take 100 to 64000"}},
		{name: "io1 iops too high", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "io1", IOPS: i64(64001)}}, wantErr: []string{"`iops` 64001: io1 volumes take 100 to 64000"}},
		{name: "io2 iops too high", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "io2", IOPS: i64(256001)}}, wantErr: []string{"`iops` 256001: io2 volumes take 100 to 256000"}},
		{name: "gp3 iops too low", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp3", IOPS: i64(2999)}}, wantErr: []string{"`iops` 2999: gp3 volumes take 3000 to 16000"}},
		{name: "gp3 iops too high", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp3", IOPS: i64(16001)}}, wantErr: []string{"`iops` 16001: gp3 volumes take 3000 to 16000"}},
		{name: "io1 over 50 iops per GiB", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "io1", VolumeSize: 10, IOPS: i64(501)}}, wantErr: []string{"`iops` 501 on 10 GiB: io1 allows at most 50 IOPS per GiB; lower `iops` or raise `volume_size` to 11"}},
		{name: "io1 without iops", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "io1", VolumeSize: 10}}, wantErr: []string{"io1 volumes need `iops` (100 to 64000)"}},
		{name: "throughput on gp2", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp2", Throughput: i64(250)}}, wantErr: []string{"`throughput` only applies to gp3 volumes"}},
		{name: "throughput too low", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp3", Throughput: i64(124)}}, wantErr: []string{"`throughput` 124: gp3 takes 125 to 1000 MiB/s"}},
		{name: "throughput too high", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp3", Throughput: i64(1001)}}, wantErr: []string{"`throughput` 1001: gp3 takes 125 to 1000 MiB/s"}},
		{name: "kms key without encrypted", bds: BlockDevices{{DeviceName: "/dev/sdf", KmsKeyId: "alias/ebs"}}, wantErr: []string{"`kms_key_id` only applies to encrypted volumes: set `encrypted = true`"}},
		{name: "kms key with encrypted false", bds: BlockDevices{{DeviceName: "/dev/sdf", KmsKeyId: "alias/ebs", Encrypted: no}}, wantErr: []string{"`kms_key_id` only applies to encrypted volumes"}},
		{name: "no_device with a size", bds: BlockDevices{{DeviceName: "/dev/sdb", NoDevice: true, VolumeSize: 8, DeleteOnTermination: yes}}, wantErr: []string{"`no_device` removes the device; remove `volume_size`, `delete_on_termination` too"}},
		{name: "no_device with virtual_name", bds: BlockDevices{{DeviceName: "/dev/sdb", NoDevice: true, VirtualName: "ephemeral0"}}, wantErr: []string{"remove `virtual_name` too"}},
		{name: "virtual_name with EBS settings", bds: BlockDevices{{DeviceName: "/dev/sdb", VirtualName: "ephemeral0", VolumeType: "gp3"}}, wantErr: []string{"`virtual_name` maps an instance-store volume, which has no `volume_type`"}},
		{name: "virtual_name misspelt", bds: BlockDevices{{DeviceName: "/dev/sdb", VirtualName: "ephemeral24"}}, wantErr: []string{"`virtual_name` \"ephemeral24\": use ephemeral0 to ephemeral23"}},
		{name: "negative size", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeSize: -1}}, wantErr: []string{"`volume_size` -1: give a size in GiB"}},
		{name: "standard over 1 TiB", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "standard", VolumeSize: 1025}}, wantErr: []string{"`volume_size` 1025 GiB: standard volumes are 1 to 1024 GiB"}},
		{name: "st1 too small", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "st1", VolumeSize: 100}}, wantErr: []string{"`volume_size` 100 GiB: st1 volumes are 125 to 16384 GiB"}},
		{name: "snapshot_id malformed", bds: BlockDevices{{DeviceName: "/dev/sdf", SnapshotId: "my-snap"}}, wantErr: []string{"`snapshot_id` \"my-snap\" is not a snapshot ID"}},
		{name: "unknown values are not checked", bds: BlockDevices{{DeviceName: hcl2helper.UnknownVariableValue, VolumeType: hcl2helper.UnknownVariableValue, SnapshotId: hcl2helper.UnknownVariableValue}}},
		{
			name:    "every problem of every device",
			bds:     BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp2", IOPS: i64(1), Throughput: i64(1)}, {DeviceName: "/dev/sdg", KmsKeyId: "k"}},
			wantErr: []string{"/dev/sdf: `iops`", "/dev/sdf: `throughput`", "/dev/sdg: `kms_key_id`"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.bds.prepare("opt")
			if len(errs) != len(tt.wantErr) {
				t.Errorf("got %d error(s), want %d: %v", len(errs), len(tt.wantErr), errs)
			}
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(strings.Join(all, "\n"), w) {
					t.Errorf("no error mentions %q:\n%s", w, strings.Join(all, "\n"))
				}
			}
		})
	}
}

func TestBlockDevicesEC2(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	bds := BlockDevices{
		{DeviceName: "/dev/xvda", VolumeSize: 20, VolumeType: "gp3", IOPS: i64(4000), Throughput: i64(300), Encrypted: aws.Bool(true), KmsKeyId: "alias/ebs"},
		{DeviceName: "/dev/sdf", SnapshotId: "snap-0123456789abcdef0", DeleteOnTermination: aws.Bool(false)},
		{DeviceName: "/dev/sdb", NoDevice: true},
		{DeviceName: "/dev/sdc", VirtualName: "ephemeral0"},
	}
	root := types.BlockDeviceMapping{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{
		VolumeSize: aws.Int32(20), VolumeType: types.VolumeTypeGp3, Iops: aws.Int32(4000), Throughput: aws.Int32(300),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/ebs"),
	}}
	rest := []types.BlockDeviceMapping{
		{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-0123456789abcdef0"), DeleteOnTermination: aws.Bool(false)}},
		{DeviceName: aws.String("/dev/sdb"), NoDevice: aws.String("")},
		{DeviceName: aws.String("/dev/sdc"), VirtualName: aws.String("ephemeral0")},
	}

	// For the build instance an unset delete_on_termination means true,
	// so no launch volume outlives the build; an explicit false stays.
	launchRoot := root
	launchRoot.Ebs = &types.EbsBlockDevice{}
	*launchRoot.Ebs = *root.Ebs
	launchRoot.Ebs.DeleteOnTermination = aws.Bool(true)
	if got, want := bds.ec2(true), append([]types.BlockDeviceMapping{launchRoot}, rest...); !reflect.DeepEqual(got, want) {
		t.Errorf("launch mappings\n got %s\nwant %s", jsonString(got), jsonString(want))
	}
	// For the AMI an unset delete_on_termination is left to EC2.
	if got, want := bds.ec2(false), append([]types.BlockDeviceMapping{root}, rest...); !reflect.DeepEqual(got, want) {
		t.Errorf("AMI mappings\n got %s\nwant %s", jsonString(got), jsonString(want))
	}
	if got := BlockDevices(nil).ec2(true); got != nil {
		t.Errorf("no mappings gave %s, want nil (the AMI's own)", jsonString(got))
	}
}

func TestBlockDevicesCheckSizes(t *testing.T) {
	img := types.Image{ImageId: aws.String("ami-0source"), BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda")}}}
	tests := []struct {
		name string
		bds  BlockDevices
		want string
	}{
		{name: "the AMI's root device without a size", bds: BlockDevices{{DeviceName: "/dev/xvda", VolumeType: "gp3"}}},
		{name: "a new device with a size", bds: BlockDevices{{DeviceName: "/dev/sdf", VolumeSize: 10}}},
		{name: "a new device from a snapshot", bds: BlockDevices{{DeviceName: "/dev/sdf", SnapshotId: "snap-1"}}},
		{name: "removing or instance store", bds: BlockDevices{{DeviceName: "/dev/sdb", NoDevice: true}, {DeviceName: "/dev/sdc", VirtualName: "ephemeral0"}}},
		{
			name: "new devices of no size",
			bds:  BlockDevices{{DeviceName: "/dev/sdf", VolumeType: "gp3"}, {DeviceName: "/dev/xvda"}, {DeviceName: "/dev/sdg"}},
			want: "`launch_block_device_mappings` /dev/sdf, /dev/sdg: a new volume needs `volume_size` (or `snapshot_id`); the source AMI ami-0source maps no such device",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.bds.checkSizes("launch_block_device_mappings", img)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
