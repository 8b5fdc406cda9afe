package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// PluginSource is the plugin's `packer init` source address.
const PluginSource = "github.com/packer-bakery/bakery"

// InstallPlugin builds the plugin from the checkout at root and installs it
// with `packer plugins install --path` into a new folder under dir, the way
// a user installs a local build. It returns that folder, for
// PACKER_PLUGIN_PATH.
func InstallPlugin(root, dir string) (string, error) {
	bin := filepath.Join(dir, "packer-plugin-bakery")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the plugin: %w\n%s", err, out)
	}
	pluginPath := filepath.Join(dir, "plugins")
	install := exec.Command(PackerBinary(root), "plugins", "install", "--path", bin, PluginSource)
	install.Env = append(os.Environ(), "PACKER_PLUGIN_PATH="+pluginPath, "CHECKPOINT_DISABLE=1")
	if out, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing the plugin into packer: %w\n%s", err, out)
	}
	return pluginPath, nil
}

// PackerEnv is Env plus what a packer child needs to find the plugin in
// pluginPath and to keep its own state in configDir rather than the
// developer's ~/.config/packer.
func (b *Bed) PackerEnv(pluginPath, configDir string) []string {
	return append(b.Env(), "PACKER_PLUGIN_PATH="+pluginPath, "PACKER_CONFIG_DIR="+configDir)
}
