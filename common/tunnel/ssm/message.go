// Package ssm speaks AWS Systems Manager Session Manager's data channel: the
// binary messages the session-manager-plugin and the SSM agent exchange over
// a websocket, their sequence numbers and acknowledgements, the handshake,
// and the port-forwarding session that multiplexes TCP connections with
// smux. It replaces AWS's session-manager-plugin binary for port
// forwarding: nothing has to be installed beside Packer.
//
// The framing was worked out from AWS's plugin source
// (github.com/aws/session-manager-plugin, src/message/clientmessage.go and
// messageparser.go); the tests pin the byte layout by hand.
package ssm

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Message types (clientmessage.go). The type field is 32 bytes of text.
const (
	TypeInput            = "input_stream_data"
	TypeOutput           = "output_stream_data"
	TypeAcknowledge      = "acknowledge"
	TypeChannelClosed    = "channel_closed"
	TypeStartPublication = "start_publication"
	TypePausePublication = "pause_publication"
)

// PayloadType says what a stream message carries (clientmessage.go).
type PayloadType uint32

const (
	PayloadOutput            PayloadType = 1
	PayloadError             PayloadType = 2
	PayloadSize              PayloadType = 3
	PayloadParameter         PayloadType = 4
	PayloadHandshakeRequest  PayloadType = 5
	PayloadHandshakeResponse PayloadType = 6
	PayloadHandshakeComplete PayloadType = 7
	PayloadEncChallengeReq   PayloadType = 8
	PayloadEncChallengeResp  PayloadType = 9
	PayloadFlag              PayloadType = 10
	PayloadStdErr            PayloadType = 11
	PayloadExitCode          PayloadType = 12
)

// Flag is the 4-byte big-endian body of a PayloadFlag message.
type Flag uint32

const (
	FlagDisconnectToPort   Flag = 1
	FlagTerminateSession   Flag = 2
	FlagConnectToPortError Flag = 3
)

// Field widths and offsets of the header. HeaderLength, the first field,
// holds the offset of PayloadLength (116): the plugin slices the payload at
// HeaderLength+4, so a longer header from a newer peer still parses.
const (
	lenHL          = 4
	lenMessageType = 32
	lenSchema      = 4
	lenCreatedDate = 8
	lenSequence    = 8
	lenFlags       = 8
	lenMessageID   = 16
	lenDigest      = 32
	lenPayloadType = 4
	lenPayloadLen  = 4

	offMessageType = lenHL
	offSchema      = offMessageType + lenMessageType
	offCreatedDate = offSchema + lenSchema
	offSequence    = offCreatedDate + lenCreatedDate
	offFlags       = offSequence + lenSequence
	offMessageID   = offFlags + lenFlags
	offDigest      = offMessageID + lenMessageID
	offPayloadType = offDigest + lenDigest
	offPayloadLen  = offPayloadType + lenPayloadType
	offPayload     = offPayloadLen + lenPayloadLen

	// HeaderLength is what this side writes into the first field.
	HeaderLength = offPayloadLen
)

// UUID is a message id in its usual byte order (as printed).
type UUID [16]byte

// NewUUID returns a random (version 4) UUID.
func NewUUID() UUID {
	var u UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// String is the lower-case hyphenated form the plugin puts in
// acknowledgements (twinj/uuid's CleanHyphen format).
func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Message is one data-channel message.
type Message struct {
	Type           string
	SchemaVersion  uint32
	CreatedDate    uint64 // milliseconds since the epoch, UTC
	SequenceNumber int64
	Flags          uint64
	ID             UUID
	PayloadType    PayloadType
	Payload        []byte
}

// Marshal encodes m. The type is padded with spaces, as the plugin's
// putString does; the digest is the SHA-256 of the payload.
func (m *Message) Marshal() ([]byte, error) {
	if len(m.Type) > lenMessageType {
		return nil, fmt.Errorf("ssm message type %q is longer than %d bytes", m.Type, lenMessageType)
	}
	b := make([]byte, offPayload+len(m.Payload))
	be := binary.BigEndian
	be.PutUint32(b[0:], HeaderLength)
	copy(b[offMessageType:offSchema], bytes.Repeat([]byte{' '}, lenMessageType))
	copy(b[offMessageType:], m.Type)
	be.PutUint32(b[offSchema:], m.SchemaVersion)
	be.PutUint64(b[offCreatedDate:], m.CreatedDate)
	be.PutUint64(b[offSequence:], uint64(m.SequenceNumber))
	be.PutUint64(b[offFlags:], m.Flags)
	putUUID(b[offMessageID:], m.ID)
	sum := sha256.Sum256(m.Payload)
	copy(b[offDigest:], sum[:])
	be.PutUint32(b[offPayloadType:], uint32(m.PayloadType))
	be.PutUint32(b[offPayloadLen:], uint32(len(m.Payload)))
	copy(b[offPayload:], m.Payload)
	return b, nil
}

// putUUID writes the id the way the plugin's putUuid does: the UUID's last
// 8 bytes (its "least significant long") first, then its first 8.
func putUUID(b []byte, u UUID) {
	copy(b[0:8], u[8:16])
	copy(b[8:16], u[0:8])
}

func getUUID(b []byte) UUID {
	var u UUID
	copy(u[8:16], b[0:8])
	copy(u[0:8], b[8:16])
	return u
}

// ErrDigest is returned by Unmarshal for a payload whose SHA-256 does not
// match the header's digest.
var ErrDigest = errors.New("ssm message payload digest does not match")

// Unmarshal decodes and validates one message: a header at least as long as
// ours, a payload as long as PayloadLength says, and a matching digest (the
// plugin's Validate skips the digest of start/pause_publication, and of
// empty payloads).
func Unmarshal(b []byte) (*Message, error) {
	if len(b) < offPayload {
		return nil, fmt.Errorf("ssm message of %d bytes is shorter than its %d-byte header", len(b), offPayload)
	}
	be := binary.BigEndian
	hl := be.Uint32(b[0:])
	if hl < HeaderLength || uint64(hl)+lenPayloadLen > uint64(len(b)) {
		return nil, fmt.Errorf("ssm message header length %d does not fit a %d-byte message", hl, len(b))
	}
	m := &Message{
		Type:           strings.TrimSpace(string(bytes.Trim(b[offMessageType:offSchema], "\x00"))),
		SchemaVersion:  be.Uint32(b[offSchema:]),
		CreatedDate:    be.Uint64(b[offCreatedDate:]),
		SequenceNumber: int64(be.Uint64(b[offSequence:])),
		Flags:          be.Uint64(b[offFlags:]),
		ID:             getUUID(b[offMessageID:]),
		PayloadType:    PayloadType(be.Uint32(b[offPayloadType:])),
	}
	// PayloadLength sits right before the payload, wherever the header ends.
	plen := be.Uint32(b[hl:])
	rest := b[hl+lenPayloadLen:]
	if uint64(plen) > uint64(len(rest)) {
		return nil, fmt.Errorf("ssm message says its payload has %d bytes, %d follow", plen, len(rest))
	}
	m.Payload = rest[:plen]
	if m.Type == "" {
		return nil, errors.New("ssm message has no type")
	}
	if m.Type == TypeStartPublication || m.Type == TypePausePublication || plen == 0 {
		return m, nil
	}
	if sum := sha256.Sum256(m.Payload); !bytes.Equal(sum[:], b[offDigest:offDigest+lenDigest]) {
		return nil, ErrDigest
	}
	return m, nil
}

// FlagPayload encodes a flag as the body of a PayloadFlag message.
func FlagPayload(f Flag) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(f))
}

// ParseFlag decodes the body of a PayloadFlag message.
func ParseFlag(p []byte) (Flag, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("ssm flag payload has %d bytes, want 4", len(p))
	}
	return Flag(binary.BigEndian.Uint32(p)), nil
}
