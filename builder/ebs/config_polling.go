//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type PollingConfig,AWSPollingConfig

package ebs

import (
	"fmt"
	"os"
	"strconv"
	"time"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// The environment variables amazon-ebs reads for its waiters, honoured here
// when the template does not say. AWS_MAX_ATTEMPTS is not one of them: with
// aws-sdk-go-v2 it sets the number of attempts of each API call (see
// `max_retries`), not of a wait.
const (
	envPollDelay = "AWS_POLL_DELAY_SECONDS"
	envTimeout   = "AWS_TIMEOUT_SECONDS"
)

const (
	defaultPollDelay    = 2 * time.Second
	defaultStateTimeout = 30 * time.Minute
)

// PollingConfig is how the build waits for AWS: for the instance to run
// and to stop, for the AMI to become available, for the instance to
// terminate at cleanup. Every wait checks at a steady interval, says what it
// waits for, and stops at once on Ctrl-C.
type PollingConfig struct {
	// How often and how many times to check, as amazon-ebs's `aws_polling`
	// block:
	//
	// ```hcl
	// aws_polling {
	//   delay_seconds = 5
	//   max_attempts  = 400
	// }
	// ```
	//
	// Each wait ends at whichever comes first: `max_attempts` checks or
	// `state_timeout` (default 30m). Unset, `max_attempts` puts no limit and
	// `state_timeout` alone bounds a wait; amazon-ebs gives up after 40
	// checks (120 for AMIs) instead. Cleanup waits (instance termination,
	// security group release) use `delay_seconds` but not `max_attempts`, so
	// that a small limit cannot leave resources behind.
	AWSPolling AWSPollingConfig `mapstructure:"aws_polling" required:"false"`
}

// AWSPollingConfig is the `aws_polling` block.
type AWSPollingConfig struct {
	// Checks a wait makes before it fails. Unset or 0: no limit other than
	// `state_timeout`. Unlike amazon-ebs, the AWS_MAX_ATTEMPTS environment
	// variable does not set this: aws-sdk-go-v2 reads it as the number of
	// attempts of each API call.
	MaxAttempts int `mapstructure:"max_attempts" required:"false"`
	// Seconds between two checks. Unset or 0: the AWS_POLL_DELAY_SECONDS
	// environment variable, else 2 seconds (amazon-ebs: 15 seconds, which
	// adds up to a minute of lag per bake). The option wins over the
	// variable, as in amazon-ebs.
	DelaySeconds int `mapstructure:"delay_seconds" required:"false"`
}

// prepare validates `aws_polling`, and fills `state_timeout` from
// AWS_TIMEOUT_SECONDS when the template leaves it unset (amazon-ebs reads
// that variable as the time a wait may take). It runs before RunConfig's
// maxPollDelay bounds `aws_polling.delay_seconds`.
const maxPollDelay = 86400

// prepare, which defaults an unset timeout to 30m.
func (p *PollingConfig) prepare(stateTimeout *time.Duration) []error {
	var errs []error
	a := &p.AWSPolling
	if a.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("`aws_polling.max_attempts` %d cannot be negative: give a number of checks, or leave it unset for no limit but `state_timeout`", a.MaxAttempts))
	}
	switch {
	case a.DelaySeconds < 0:
		errs = append(errs, fmt.Errorf("`aws_polling.delay_seconds` %d cannot be negative: give the seconds between checks, e.g. 5", a.DelaySeconds))
	case a.DelaySeconds > maxPollDelay:
		// Far beyond it, the delay would also overflow a time.Duration.
		errs = append(errs, fmt.Errorf("`aws_polling.delay_seconds` %d: at most %d (a day) between checks", a.DelaySeconds, maxPollDelay))
	case a.DelaySeconds == 0:
		if v, ok := os.LookupEnv(envPollDelay); ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("environment variable %s=%q is not a positive number of seconds: fix or unset it, or set `aws_polling.delay_seconds`", envPollDelay, v))
			} else {
				a.DelaySeconds = n
			}
		}
	}
	if *stateTimeout == 0 {
		if v, ok := os.LookupEnv(envTimeout); ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("environment variable %s=%q is not a positive number of seconds: fix or unset it, or set `state_timeout`", envTimeout, v))
			} else {
				*stateTimeout = time.Duration(n) * time.Second
			}
		}
	}
	timeout := *stateTimeout
	if timeout <= 0 {
		timeout = defaultStateTimeout
	}
	if delay := p.delay(); delay >= timeout {
		errs = append(errs, fmt.Errorf("`aws_polling.delay_seconds` (%s) is not shorter than `state_timeout` (%s): a wait would check once and time out; lower the delay or raise the timeout", delay, timeout))
	}
	return errs
}

func (p *PollingConfig) delay() time.Duration {
	if p.AWSPolling.DelaySeconds > 0 {
		return time.Duration(p.AWSPolling.DelaySeconds) * time.Second
	}
	return defaultPollDelay
}

// poll is how every wait of the build polls.
func (p *PollingConfig) poll(stateTimeout time.Duration) bakery.Poll {
	return bakery.Poll{Interval: p.delay(), Timeout: stateTimeout, Attempts: p.AWSPolling.MaxAttempts}
}
