package ssm

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The layout below is written out by hand from AWS's session-manager-plugin
// source (src/message/clientmessage.go: field order and widths;
// messageparser.go: SerializeClientMessage / DeserializeClientMessage), not
// produced by our encoder, so that the encoder, the decoder and the
// test-bed's stand-in agent cannot share one misunderstanding.
func handWritten(t *testing.T) []byte {
	t.Helper()
	parts := []string{
		// HeaderLength: uint32 BE = ClientMessage_PayloadLengthOffset = 116
		// (4+32+4+8+8+8+16+32+4). putUInteger.
		"00000074",
		// MessageType: 32 bytes; putString fills the field with ' ' (0x20)
		// and copies the text to its start. "input_stream_data" is 17 bytes.
		"696e7075745f73747265616d5f64617461" + strings.Repeat("20", 15),
		// SchemaVersion: uint32 BE = 1.
		"00000001",
		// CreatedDate: uint64 BE epoch millis = 1700000000123 = 0x18bcfe5687b.
		"0000018bcfe5687b",
		// SequenceNumber: int64 BE = 7.
		"0000000000000007",
		// Flags: uint64 BE = 0 (SendInputDataMessage sends 0; acks send 3).
		"0000000000000000",
		// MessageId: putUuid writes the UUID's bytes 8..15 (its "least
		// significant long") first, then bytes 0..7. UUID
		// 00112233-4455-6677-8899-aabbccddeeff therefore goes out as:
		"8899aabbccddeeff" + "0011223344556677",
		// PayloadDigest: SHA-256 of the payload "hi".
		"8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4",
		// PayloadType: uint32 BE = 1 (Output).
		"00000001",
		// PayloadLength: uint32 BE = 2.
		"00000002",
		// Payload.
		"6869",
	}
	b, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func handMessage() Message {
	return Message{
		Type:           TypeInput,
		SchemaVersion:  1,
		CreatedDate:    1700000000123,
		SequenceNumber: 7,
		ID:             UUID{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
		PayloadType:    PayloadOutput,
		Payload:        []byte("hi"),
	}
}

func TestMarshalMatchesHandWrittenLayout(t *testing.T) {
	m := handMessage()
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := handWritten(t)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	if len(got) != 120+2 {
		t.Fatalf("length %d, want 122 (header 116 + payload length 4 + payload 2)", len(got))
	}
}

func TestUnmarshalHandWrittenLayout(t *testing.T) {
	got, err := Unmarshal(handWritten(t))
	if err != nil {
		t.Fatal(err)
	}
	want := handMessage()
	if got.Type != want.Type || got.SchemaVersion != 1 || got.CreatedDate != want.CreatedDate ||
		got.SequenceNumber != 7 || got.Flags != 0 || got.ID != want.ID ||
		got.PayloadType != PayloadOutput || string(got.Payload) != "hi" {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	if got.ID.String() != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Fatalf("id prints as %s", got.ID)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := handWritten(t)
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", good[:100], "shorter than"},
		{"digest", mutate(func(b []byte) []byte { b[len(b)-1] = 'X'; return b }), ErrDigest.Error()},
		{"payload length beyond end", mutate(func(b []byte) []byte { b[119] = 9; return b }), "payload has 9 bytes, 2 follow"},
		{"header length beyond end", mutate(func(b []byte) []byte { b[3] = 0xff; return b }), "does not fit"},
		{"no type", mutate(func(b []byte) []byte { copy(b[4:36], strings.Repeat(" ", 32)); return b }), "no type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A peer with a longer header (a future schema) still parses: the plugin
// finds PayloadLength at HeaderLength and the payload after it.
func TestUnmarshalLongerHeader(t *testing.T) {
	b := handWritten(t)
	long := append(append(append([]byte{}, b[:116]...), 0xde, 0xad, 0xbe, 0xef), b[116:]...)
	long[3] = 120
	m, err := Unmarshal(long)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != "hi" {
		t.Fatalf("payload %q", m.Payload)
	}
}

// start_publication arrives with whatever digest the service puts there;
// the plugin's Validate does not check it for that type.
func TestUnmarshalPublicationSkipsDigest(t *testing.T) {
	m := Message{Type: TypeStartPublication, SchemaVersion: 1, CreatedDate: 1, Payload: []byte("x")}
	b, _ := m.Marshal()
	b[offDigest] ^= 0xff
	if _, err := Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	m.Type = TypeOutput
	b, _ = m.Marshal()
	b[offDigest] ^= 0xff
	if _, err := Unmarshal(b); !errors.Is(err, ErrDigest) {
		t.Fatalf("output with a bad digest: %v", err)
	}
}

func TestFlagPayload(t *testing.T) {
	// SendFlag: binary.Write(BigEndian, PayloadTypeFlag(uint32)).
	if got := hex.EncodeToString(FlagPayload(FlagTerminateSession)); got != "00000002" {
		t.Fatalf("TerminateSession flag %s, want 00000002", got)
	}
	f, err := ParseFlag([]byte{0, 0, 0, 3})
	if err != nil || f != FlagConnectToPortError {
		t.Fatalf("ParseFlag: %v %v", f, err)
	}
}

// JSON bodies against the field names of the plugin's structs
// (clientmessage.go AcknowledgeContent, service.go OpenDataChannelInput,
// handshakemessage.go), written out by hand.
func TestPayloadJSONFieldNames(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{Acknowledge{MessageType: TypeOutput, MessageID: "00112233-4455-6677-8899-aabbccddeeff", SequenceNumber: 3, IsSequential: true},
			`{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"00112233-4455-6677-8899-aabbccddeeff","AcknowledgedMessageSequenceNumber":3,"IsSequentialMessage":true}`},
		{OpenDataChannel{MessageSchemaVersion: "1.0", RequestID: "r", TokenValue: "t", ClientID: "c", ClientVersion: "v"},
			`{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientId":"c","ClientVersion":"v"}`},
		{HandshakeResponse{ClientVersion: "v", ProcessedClientActions: []ProcessedAction{{ActionType: ActionSessionType, ActionStatus: StatusSuccess}}},
			`{"ClientVersion":"v","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
	// What the agent sends, as the plugin decodes it.
	var req HandshakeRequest
	in := `{"AgentVersion":"3.3.1142.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22","type":"LocalPortForwarding"}}}]}`
	if err := json.Unmarshal([]byte(in), &req); err != nil {
		t.Fatal(err)
	}
	var st SessionTypeRequest
	var props PortProperties
	if json.Unmarshal(req.RequestedClientActions[0].ActionParameters, &st) != nil || json.Unmarshal(st.Properties, &props) != nil ||
		req.AgentVersion != "3.3.1142.0" || st.SessionType != "Port" || props.PortNumber != "22" || props.Type != "LocalPortForwarding" {
		t.Fatalf("decoded %+v %+v %+v", req, st, props)
	}
}
