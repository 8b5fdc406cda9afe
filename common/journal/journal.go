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
	// Source, for an image: the instance ("i-…") CreateImage made it from,
	// or the AMI ("ami-…") our CopyImage copied. The sweep removes an image
	// only when AWS still shows it made from that instance (or it is a
	// copy, whose ID only our own CopyImage reply gave).
	Source string `json:"source,omitempty"`
}

// Entry is one build's journal file.
type Entry struct {
	BuildID string `json:"build_id"`
	Region  string `json:"region"` // the build region
	Host    string `json:"host"`
	PID     int    `json:"pid"`
	// BootID, PIDNamespace and ProcStart make the PID mean one process:
	// this boot of this machine, this PID namespace (containers on one
	// host share hostnames and journal folders but not PIDs), and the
	// process's start time (a PID is reused once its process is gone).
	BootID       string    `json:"boot_id,omitempty"`
	PIDNamespace string    `json:"pid_namespace,omitempty"`
	ProcStart    string    `json:"proc_start,omitempty"`
	Started      time.Time `json:"started"`
	// OnError is the build's -on-error: with "abort" (or "ask") what it
	// left may have been kept on purpose.
	OnError   string     `json:"on_error,omitempty"`
	Resources []Resource `json:"resources"`
}

// Alive says whether the build that wrote e may still be running. Only a
// build this machine can see is ever known dead: same host, same boot,
// same PID namespace, and its process gone (or its PID now another
// process's). Anything else is not known to be dead, and counts as alive.
func (e Entry) Alive() bool {
	host, _ := os.Hostname()
	if e.Host != host {
		return true
	}
	if e.BootID != "" && e.BootID != bootID() {
		return true // another machine of the same name, or unknown
	}
	if e.PIDNamespace != pidNamespace() {
		return true // another container's PID: not ours to look up
	}
	if !processAlive(e.PID) {
		return false
	}
	if e.ProcStart != "" {
		if now := procStart(e.PID); now != "" && now != e.ProcStart {
			return false // the PID now belongs to another process
		}
	}
	return true
}

// IsKept: the build ran with -on-error=abort (or ask) and so may have
// left its resources for the user to look at.
func (e Entry) IsKept() bool { return e.OnError == "abort" || e.OnError == "ask" }

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
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	pid := os.Getpid()
	j := &Journal{
		path: filepath.Join(dir, buildID+".json"),
		entry: Entry{BuildID: buildID, Region: region, Host: host, PID: pid, BootID: bootID(), PIDNamespace: pidNamespace(),
			ProcStart: procStart(pid), Started: time.Now().UTC()},
	}
	return j, j.write()
}

// privateDir refuses a journal folder others could write into (they
// could plant or replace journals, and with them what a sweep removes).
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("journal folder %s is not a folder (a symlink?): remove it, or set %s", dir, EnvDir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("journal folder %s can be written by others (mode %v): chmod 700 it, or set %s", dir, fi.Mode().Perm(), EnvDir)
	}
	return nil
}

// SetOnError notes the build's -on-error mode.
func (j *Journal) SetOnError(mode string) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entry.OnError = mode
	return j.write()
}

// RecordImage notes an AMI and what it was made from (see Resource.Source).
func (j *Journal) RecordImage(id, region, source string) error {
	return j.add(Resource{Kind: KindImage, ID: id, Region: region, Source: source})
}

// Record notes a resource the moment its ID is known; region "" is the
// build region.
func (j *Journal) Record(kind Kind, id, region string) error {
	return j.add(Resource{Kind: kind, ID: id, Region: region})
}

func (j *Journal) add(r Resource) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if r.Region == "" {
		r.Region = j.entry.Region
	}
	j.entry.Resources = append(j.entry.Resources, r)
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
	return writeEntry(j.path, j.entry)
}

// writeEntry writes through a new file with an unpredictable name
// (created exclusively: never through a symlink someone planted) renamed
// over path (a rename replaces a symlink, it does not follow it).
func writeEntry(path string, e Entry) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp") // 0600, O_EXCL
	if err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing journal: %w", err)
	}
	return nil
}

// ReadAll returns every journal in the journal folder, oldest first. A
// journal that cannot be read is passed to skip and left out: one corrupt
// file must not stop a sweep of the others.
func ReadAll(skip func(file string, err error)) ([]Entry, error) {
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
		e, err := readEntry(f)
		if err != nil {
			if skip != nil {
				skip(f, err)
			}
			continue
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].Started.Before(entries[b].Started) })
	return entries, nil
}

func readEntry(path string) (Entry, error) {
	var e Entry
	data, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, err
	}
	if e.BuildID == "" || filepath.Base(path) != e.BuildID+".json" {
		return e, fmt.Errorf("its build id %q does not match the file name", e.BuildID)
	}
	return e, nil
}

// ForgetWhere drops a build's resources that drop picks (after a sweep
// removed them), and removes its journal once nothing is left: a sweep of
// some regions, or of IAM only, keeps the entries of the rest.
func ForgetWhere(buildID string, drop func(Resource) bool) error {
	dir, err := Dir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, buildID+".json")
	e, err := readEntry(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	kept := e.Resources[:0]
	for _, r := range e.Resources {
		if !drop(r) {
			kept = append(kept, r)
		}
	}
	if len(kept) > 0 {
		e.Resources = kept
		return writeEntry(path, e)
	}
	return Remove(buildID)
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

// Local is an entry for process pid of this machine, as Open writes it.
func Local(pid int) Entry {
	host, _ := os.Hostname()
	return Entry{Host: host, PID: pid, BootID: bootID(), PIDNamespace: pidNamespace(), ProcStart: procStart(pid)}
}
