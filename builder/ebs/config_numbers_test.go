package ebs

import (
	"strings"
	"testing"
)

// TestPrepareRefusesOverflowingNumbers: a number too big for what AWS (or
// a time.Duration) takes must be refused at validate time, never wrapped
// into another, valid-looking value (ssh_port 4294967318 is port 22 as an
// int32; volume_size 4294967297 is 1 GiB).
func TestPrepareRefusesOverflowingNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		over map[string]interface{}
		want string
	}{
		{"ssh_port wraps to 22", map[string]interface{}{"ssh_port": int64(4294967318)}, "`ssh_port`"},
		{"volume_size wraps to 1 GiB", map[string]interface{}{"launch_block_device_mappings": []map[string]interface{}{
			{"device_name": "/dev/xvda", "volume_size": int64(4294967297)}}}, "`volume_size`"},
		{"ami volume_size wraps", map[string]interface{}{"ami_block_device_mappings": []map[string]interface{}{
			{"device_name": "/dev/xvdb", "volume_size": int64(1) << 40}}}, "`volume_size`"},
		{"polling delay overflows a duration", map[string]interface{}{"aws_polling": map[string]interface{}{"delay_seconds": int64(10000000000)}}, "`aws_polling.delay_seconds`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			_, _, err := b.Prepare(validConfig(tc.over))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Prepare: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
