package ansible

import "strings"

// sftpServerPaths are where distributions put sftp-server, most common
// cloud images first. Amazon Linux and RHEL have only the first; Debian
// and Ubuntu the second (and the /usr/lib/sftp-server link the stock
// provisioner assumes).
var sftpServerPaths = []string{
	"/usr/libexec/openssh/sftp-server", // Amazon Linux, RHEL, Fedora, Rocky
	"/usr/lib/openssh/sftp-server",     // Debian, Ubuntu
	"/usr/lib/ssh/sftp-server",         // Arch, Alpine
	"/usr/libexec/ssh/sftp-server",     // openSUSE
	"/usr/lib/sftp-server",             // old Debian link
	"/usr/libexec/sftp-server",         // BSDs
}

// sftpLocator returns the remote command the proxy runs for an SFTP
// subsystem request: a POSIX sh script that execs the first sftp-server
// found, so the same template works on every distribution. `-e` sends its
// log to stderr, which the proxy shows, instead of syslog.
func sftpLocator(paths []string) string {
	var b strings.Builder
	b.WriteString("sh -c 'for p in")
	for _, p := range paths {
		b.WriteString(" " + p)
	}
	b.WriteString(`; do if [ -x "$p" ]; then exec "$p" -e; fi; done; ` +
		`echo "bakery-ansible: no sftp-server in any of:` + strings.Join(paths, " ") +
		`; set sftp_command" >&2; exit 127'`)
	return b.String()
}
