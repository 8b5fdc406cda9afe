package ansible

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// defaultInventoryTemplate sets no ansible_user: an inventory variable
// would beat the play's and the tasks' `remote_user`; `--user` does not.
const defaultInventoryTemplate = "{{ .HostAlias }} ansible_host={{ .Host }} ansible_port={{ .Port }}\n"

// inventoryData is what inventory_file_template can use.
type inventoryData struct {
	HostAlias string
	Host      string
	Port      int
	User      string
}

// renderInventory returns the inventory text: the host line(s), then each
// group with the host, then the empty groups.
func renderInventory(tmpl string, data inventoryData, groups, emptyGroups []string) (string, error) {
	if tmpl == "" {
		tmpl = defaultInventoryTemplate
	}
	ctx := interpolate.Context{Data: data}
	hostLines, err := interpolate.Render(tmpl, &ctx)
	if err != nil {
		return "", fmt.Errorf("rendering `inventory_file_template`: %w", err)
	}
	var b strings.Builder
	b.WriteString(hostLines)
	if !strings.HasSuffix(hostLines, "\n") {
		b.WriteString("\n")
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "\n[%s]\n%s\n", g, data.HostAlias)
	}
	for _, g := range emptyGroups {
		fmt.Fprintf(&b, "\n[%s]\n", g)
	}
	return b.String(), nil
}

// writePrivate writes data to a new 0600 file in dir.
func writePrivate(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern) // CreateTemp makes 0600 files
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return filepath.Clean(name), nil
}
