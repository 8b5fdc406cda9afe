package faultproxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The proxy edits EC2 replies in place: it finds the byte range of an
// element's text with a streaming decoder and splices a new text in. Every
// other byte (namespaces, escaping, order, whitespace) stays as moto wrote
// it, which re-encoding through encoding/xml would not guarantee.

// leaf is a closed element whose content holds no child elements.
type leaf struct {
	path  []string // local names from the root down to the element itself
	text  string   // unescaped content
	start int      // byte range of the raw content …
	end   int      // … between the start and end tags
}

// walkLeaves calls fn for each leaf element of doc, in document order, and
// for each end of a non-leaf (with text ""), so callers can close records.
func walkLeaves(doc []byte, fn func(l leaf, isLeaf bool)) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	type open struct {
		name     string
		start    int
		hasChild bool
		text     strings.Builder
	}
	var stack []*open
	path := func() []string {
		p := make([]string, len(stack))
		for i, o := range stack {
			p[i] = o.name
		}
		return p
	}
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(stack) != 0 {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > 0 {
				stack[len(stack)-1].hasChild = true
			}
			stack = append(stack, &open{name: t.Name.Local, start: int(dec.InputOffset())})
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		case xml.EndElement:
			o := stack[len(stack)-1]
			end := before
			if end < o.start {
				end = o.start // <name/>: the decoder reports no separate end tag
			}
			fn(leaf{path: path(), text: o.text.String(), start: o.start, end: end}, !o.hasChild)
			stack = stack[:len(stack)-1]
		}
	}
}

// edit replaces doc[start:end] with text (already escaped).
type edit struct {
	start, end int
	text       string
}

func applyEdits(doc []byte, edits []edit) []byte {
	if len(edits) == 0 {
		return doc
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var out bytes.Buffer
	out.Grow(len(doc))
	pos := 0
	for _, e := range edits {
		out.Write(doc[pos:e.start])
		out.WriteString(e.text)
		pos = e.end
	}
	out.Write(doc[pos:])
	return out.Bytes()
}

// hasSuffix reports whether path ends with suffix.
func hasSuffix(path []string, suffix ...string) bool {
	return len(path) >= len(suffix) && slices.Equal(path[len(path)-len(suffix):], suffix)
}

// selfClosing reports whether a leaf was written as <name/>: its content
// range is empty and ends right after "/>". Such a leaf cannot be edited in
// place.
func selfClosing(doc []byte, l leaf) bool {
	return l.start == l.end && l.start >= 2 && string(doc[l.start-2:l.start]) == "/>"
}

// instanceStateFn decides what state an instance should show: given its ID
// and moto's state name, it returns the state to show and whether to change.
type instanceStateFn func(id, name string) (newName string, newCode int, change bool)

// rewriteInstanceStates edits instanceState (code and name) of each item of
// an instancesSet (DescribeInstances) or instanceStatusSet
// (DescribeInstanceStatus). Other fields named code or name (stateReason,
// tags, status details) are left alone: only the instanceState child of
// the item itself counts.
func rewriteInstanceStates(doc []byte, decide instanceStateFn) ([]byte, error) {
	type item struct {
		id         string
		name, code *leaf
	}
	var edits []edit
	var cur item
	isItem := func(p []string) bool {
		return hasSuffix(p, "instancesSet", "item") || hasSuffix(p, "instanceStatusSet", "item")
	}
	err := walkLeaves(doc, func(l leaf, isLeaf bool) {
		n := len(l.path)
		switch {
		case isLeaf && n >= 3 && l.path[n-1] == "instanceId" && isItem(l.path[:n-1]):
			cur.id = strings.TrimSpace(l.text)
		case isLeaf && n >= 4 && l.path[n-2] == "instanceState" && isItem(l.path[:n-2]):
			switch l.path[n-1] {
			case "name":
				cur.name = &l
			case "code":
				cur.code = &l
			}
		case isItem(l.path):
			if cur.id != "" && cur.name != nil && cur.code != nil &&
				!selfClosing(doc, *cur.name) && !selfClosing(doc, *cur.code) {
				if name, code, ok := decide(cur.id, strings.TrimSpace(cur.name.text)); ok {
					edits = append(edits,
						edit{cur.name.start, cur.name.end, escape(name)},
						edit{cur.code.start, cur.code.end, strconv.Itoa(code)})
				}
			}
			cur = item{}
		}
	})
	if err != nil {
		return doc, err
	}
	return applyEdits(doc, edits), nil
}

// imageStateFn is instanceStateFn for AMIs.
type imageStateFn func(id, state string) (newState string, change bool)

// rewriteImageStates edits imageState of each item of an imagesSet
// (DescribeImages).
func rewriteImageStates(doc []byte, decide imageStateFn) ([]byte, error) {
	var edits []edit
	var id string
	var state *leaf
	err := walkLeaves(doc, func(l leaf, isLeaf bool) {
		n := len(l.path)
		switch {
		case isLeaf && n >= 3 && hasSuffix(l.path[:n-1], "imagesSet", "item"):
			switch l.path[n-1] {
			case "imageId":
				id = strings.TrimSpace(l.text)
			case "imageState":
				state = &l
			}
		case hasSuffix(l.path, "imagesSet", "item"):
			if id != "" && state != nil && !selfClosing(doc, *state) {
				if s, ok := decide(id, strings.TrimSpace(state.text)); ok {
					edits = append(edits, edit{state.start, state.end, escape(s)})
				}
			}
			id, state = "", nil
		}
	})
	if err != nil {
		return doc, err
	}
	return applyEdits(doc, edits), nil
}

// instanceIDs returns the instanceId of each instancesSet item: the
// instances a RunInstances, StartInstances, StopInstances or
// TerminateInstances reply names.
func instanceIDs(doc []byte) ([]string, error) {
	var ids []string
	err := walkLeaves(doc, func(l leaf, isLeaf bool) {
		if isLeaf && hasSuffix(l.path, "instancesSet", "item", "instanceId") {
			ids = append(ids, strings.TrimSpace(l.text))
		}
	})
	return ids, err
}

// topImageID returns the imageId directly under the reply's root element
// (CreateImage, CopyImage, RegisterImage), or "".
func topImageID(doc []byte) (string, error) {
	var id string
	err := walkLeaves(doc, func(l leaf, isLeaf bool) {
		if isLeaf && len(l.path) == 2 && l.path[1] == "imageId" {
			id = strings.TrimSpace(l.text)
		}
	})
	return id, err
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
