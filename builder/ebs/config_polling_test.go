package ebs

import (
	"strings"
	"testing"
	"time"
)

func TestConfigPrepare_polling(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		input       map[string]interface{}
		wantErr     []string
		wantDelay   time.Duration
		wantTimeout time.Duration
		wantTries   int
	}{
		{name: "defaults: 2s, 30m, no attempt limit", input: validConfig(nil),
			wantDelay: 2 * time.Second, wantTimeout: 30 * time.Minute},
		{name: "aws_polling as amazon-ebs", input: validConfig(map[string]interface{}{"aws_polling": map[string]interface{}{"delay_seconds": 5, "max_attempts": 400}}),
			wantDelay: 5 * time.Second, wantTimeout: 30 * time.Minute, wantTries: 400},
		{name: "AWS_POLL_DELAY_SECONDS when delay_seconds is unset", env: map[string]string{"AWS_POLL_DELAY_SECONDS": "7"}, input: validConfig(nil),
			wantDelay: 7 * time.Second, wantTimeout: 30 * time.Minute},
		{name: "delay_seconds wins over AWS_POLL_DELAY_SECONDS", env: map[string]string{"AWS_POLL_DELAY_SECONDS": "7"},
			input:     validConfig(map[string]interface{}{"aws_polling": map[string]interface{}{"delay_seconds": 3}}),
			wantDelay: 3 * time.Second, wantTimeout: 30 * time.Minute},
		{name: "AWS_TIMEOUT_SECONDS when state_timeout is unset", env: map[string]string{"AWS_TIMEOUT_SECONDS": "600"}, input: validConfig(nil),
			wantDelay: 2 * time.Second, wantTimeout: 10 * time.Minute},
		{name: "state_timeout wins over AWS_TIMEOUT_SECONDS", env: map[string]string{"AWS_TIMEOUT_SECONDS": "600"},
			input:     validConfig(map[string]interface{}{"state_timeout": "45m"}),
			wantDelay: 2 * time.Second, wantTimeout: 45 * time.Minute},
		{name: "empty environment variables are ignored", env: map[string]string{"AWS_TIMEOUT_SECONDS": "", "AWS_POLL_DELAY_SECONDS": ""}, input: validConfig(nil),
			wantDelay: 2 * time.Second, wantTimeout: 30 * time.Minute},
		{name: "AWS_MAX_ATTEMPTS is left to the SDK's API retries", env: map[string]string{"AWS_MAX_ATTEMPTS": "3"}, input: validConfig(nil),
			wantDelay: 2 * time.Second, wantTimeout: 30 * time.Minute},

		{name: "negative max_attempts", input: validConfig(map[string]interface{}{"aws_polling": map[string]interface{}{"max_attempts": -1}}),
			wantErr: []string{"`aws_polling.max_attempts` -1 cannot be negative"}},
		{name: "negative delay_seconds", input: validConfig(map[string]interface{}{"aws_polling": map[string]interface{}{"delay_seconds": -2}}),
			wantErr: []string{"`aws_polling.delay_seconds` -2 cannot be negative"}},
		{name: "delay_seconds not shorter than state_timeout", input: validConfig(map[string]interface{}{"state_timeout": "1m", "aws_polling": map[string]interface{}{"delay_seconds": 60}}),
			wantErr: []string{"`aws_polling.delay_seconds` (1m0s) is not shorter than `state_timeout` (1m0s)"}},
		{name: "delay_seconds not shorter than the default state_timeout", input: validConfig(map[string]interface{}{"aws_polling": map[string]interface{}{"delay_seconds": 1800}}),
			wantErr: []string{"is not shorter than `state_timeout` (30m0s)"}},
		{name: "AWS_POLL_DELAY_SECONDS not a number", env: map[string]string{"AWS_POLL_DELAY_SECONDS": "5s"}, input: validConfig(nil),
			wantErr: []string{`environment variable AWS_POLL_DELAY_SECONDS="5s" is not a positive number of seconds`}},
		{name: "AWS_TIMEOUT_SECONDS zero", env: map[string]string{"AWS_TIMEOUT_SECONDS": "0"}, input: validConfig(nil),
			wantErr: []string{`environment variable AWS_TIMEOUT_SECONDS="0" is not a positive number of seconds`}},
		{name: "every polling problem at once",
			input:   validConfig(map[string]interface{}{"aws_polling": map[string]interface{}{"delay_seconds": -1, "max_attempts": -1}}),
			wantErr: []string{"`aws_polling.max_attempts` -1", "`aws_polling.delay_seconds` -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"AWS_POLL_DELAY_SECONDS", "AWS_TIMEOUT_SECONDS", "AWS_MAX_ATTEMPTS"} {
				t.Setenv(k, tt.env[k])
			}
			var c Config
			_, err := c.Prepare(tt.input)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Prepare succeeded, want %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\ndoes not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			p := c.PollingConfig.poll(c.StateTimeout)
			if p.Interval != tt.wantDelay || p.Timeout != tt.wantTimeout || p.Attempts != tt.wantTries {
				t.Errorf("poll = every %s for %s, %d attempts; want every %s for %s, %d attempts",
					p.Interval, p.Timeout, p.Attempts, tt.wantDelay, tt.wantTimeout, tt.wantTries)
			}
		})
	}
}
