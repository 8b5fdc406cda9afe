package ansible

import (
	"context"
	"fmt"
	"io"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// quietComm hands packer's communicator the commands Ansible runs through
// the proxy. That communicator lives in the builder's plugin process and
// logs every command it starts (PACKER_LOG), and that process knows
// nothing of this provisioner's secrets (extra vars). A command that
// carries a registered secret (a `raw` task's, say) is therefore sent on
// the remote command's stdin instead, read there by a fixed stub: the
// builder logs the stub, never the secret.
type quietComm struct {
	packersdk.Communicator
}

// stdinStub reads exactly n bytes (dd with bs=1 never reads past them, so
// the command's own stdin follows intact) and runs them with the login
// shell, as sshd would have run the command itself.
const stdinStub = `c=$(dd bs=1 count=%d 2>/dev/null) && exec "${SHELL:-/bin/sh}" -c "$c"`

func (q quietComm) Start(ctx context.Context, cmd *packersdk.RemoteCmd) error {
	if packersdk.LogSecretFilter.FilterString(cmd.Command) == cmd.Command {
		return q.Communicator.Start(ctx, cmd)
	}
	var stdin io.Reader = strings.NewReader(cmd.Command)
	if cmd.Stdin != nil {
		stdin = io.MultiReader(stdin, cmd.Stdin)
	}
	// cmd is the adapter's: it waits on it for the exit status, so the
	// fields change in place.
	cmd.Command = fmt.Sprintf(stdinStub, len(cmd.Command))
	cmd.Stdin = stdin
	return q.Communicator.Start(ctx, cmd)
}
