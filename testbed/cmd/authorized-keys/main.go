// Command authorized-keys is the test-bed's sshd AuthorizedKeysCommand:
//
//	authorized-keys --endpoint http://127.0.0.1:PORT --regions us-east-1 %u
//
// It prints the public keys of the key pairs that pending or running
// instances in the moto emulator were launched with, as cloud-init would
// have installed them. testbed/install.sh installs it root-owned at
// /usr/local/libexec/bakery-testbed/authorized-keys, because sshd refuses a
// command that anyone but root could replace.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/authkeys"
)

// timeout bounds the whole run: sshd waits for us while the client waits
// for sshd, and a hung emulator must turn into a denial, not a hang.
const timeout = 5 * time.Second

func main() {
	cfg, err := authkeys.ParseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "authorized-keys:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := authkeys.Run(ctx, cfg, authkeys.LocalClient(cfg.Endpoint), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authorized-keys:", err)
		// Non-zero makes sshd deny the login.
		os.Exit(1)
	}
}
