// Package journal records, on local disk, every resource a build creates the
// moment AWS returns its ID, and forgets it once it is deleted. What a killed
// build (SIGKILL, a lost machine) leaves is thus known even before anyone
// looks for its tags; `packer-plugin-bakery sweep` reads the journal to tell
// a dead build's leftovers from a live build's resources.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// EnvDir overrides where journals are kept.
const EnvDir = "PACKER_BAKERY_JOURNAL_DIR"

// Kind is what a journalled resource is: what the builder records and the
// sweep deletes, named once here for both.
type Kind string

const (
	KindInstance       Kind = "instance"
	KindKeyPair        Kind = "key-pair"
	KindSecurityGroup  Kind = "security-group"
	KindImage          Kind = "image"
	KindLaunchTemplate Kind = "launch-template"
	KindFleet          Kind = "fleet"
	// The temporary role and instance profile; their IDs are ARNs (role
	// and profile share a name).
	KindIAMRole            Kind = "iam-role"
	KindIAMInstanceProfile Kind = "iam-instance-profile"
)

// Resource is one thing a build created.
type Resource struct {
	Kind   Kind   `json:"kind"`
	ID     string `json:"id"`
	Region string `json:"region"`
}

// Entry is one build's journal file.
type Entry struct {
	BuildID   string     `json:"build_id"`
	Region    string     `json:"region"` // the build region
	Host      string     `json:"host"`
	PID       int        `json:"pid"`
	Started   time.Time  `json:"started"`
	Resources []Resource `json:"resources"`
}

// Alive says whether the build that wrote e is still running: same host and
// its process exists. A build on another host is not known to be dead.
func (e Entry) Alive() bool {
	host, _ := os.Hostname()
	if e.Host != host {
		return true
	}
	return processAlive(e.PID)
}

// Dir is where journals are kept: $PACKER_BAKERY_JOURNAL_DIR, else the
// user's cache folder.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the journal folder (set %s): %w", EnvDir, err)
	}
	return filepath.Join(cache, "packer-bakery", "journal"), nil
}

// Journal is one build's journal. A nil *Journal records nothing, so a
// build whose journal could not be opened still runs.
type Journal struct {
	mu    sync.Mutex
	path  string
	entry Entry
}

// Open starts the journal of a build in region.
func Open(buildID, region string) (*Journal, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating journal folder: %w", err)
	}
	host, _ := os.Hostname()
	j := &Journal{
		path:  filepath.Join(dir, buildID+".json"),
		entry: Entry{BuildID: buildID, Region: region, Host: host, PID: os.Getpid(), Started: time.Now().UTC()},
	}
	return j, j.write()
}

// Record notes a resource the moment its ID is known; region "" is the
// build region.
func (j *Journal) Record(kind Kind, id, region string) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if region == "" {
		region = j.entry.Region
	}
	j.entry.Resources = append(j.entry.Resources, Resource{Kind: kind, ID: id, Region: region})
	return j.write()
}

// Forget drops a resource once it is deleted (or handed to the user).
func (j *Journal) Forget(id string) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	kept := j.entry.Resources[:0]
	for _, r := range j.entry.Resources {
		if r.ID != id {
			kept = append(kept, r)
		}
	}
	j.entry.Resources = kept
	return j.write()
}

// Close removes the journal if nothing is left in it; otherwise it stays
// for the sweep.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.entry.Resources) > 0 {
		return nil
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Remaining lists what the journal still holds.
func (j *Journal) Remaining() []Resource {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Resource(nil), j.entry.Resources...)
}

// write replaces the file atomically, so a kill mid-write leaves the last
// complete state.
func (j *Journal) write() error {
	data, err := json.MarshalIndent(j.entry, "", "  ")
	if err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	return os.Rename(tmp, j.path)
}

// ReadAll returns every journal in the journal folder, oldest first.
func ReadAll() ([]Entry, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var entries []Entry
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var e Entry
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("reading journal %s: %w", f, err)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].Started.Before(entries[b].Started) })
	return entries, nil
}

// Remove deletes a build's journal (after a sweep cleared it).
func Remove(buildID string) error {
	dir, err := Dir()
	if err != nil {
		return err
	}
	err = os.Remove(filepath.Join(dir, buildID+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
