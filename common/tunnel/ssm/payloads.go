package ssm

import (
	"encoding/json"
	"time"
)

// JSON bodies carried in messages, with the field names of the plugin's
// src/message (clientmessage.go, handshakemessage.go) and
// src/service/service.go.

// OpenDataChannel is the first frame on a new websocket, sent as a text
// message: it presents StartSession's (or ResumeSession's) token.
type OpenDataChannel struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"` // "1.0"
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientID             string `json:"ClientId"`
	ClientVersion        string `json:"ClientVersion"`
}

// Acknowledge is the body of an acknowledge message.
type Acknowledge struct {
	MessageType    string `json:"AcknowledgedMessageType"`
	MessageID      string `json:"AcknowledgedMessageId"`
	SequenceNumber int64  `json:"AcknowledgedMessageSequenceNumber"`
	IsSequential   bool   `json:"IsSequentialMessage"`
}

// ChannelClosed is the body of a channel_closed message: the session ended
// on AWS's side (terminated, timed out), Output says why.
type ChannelClosed struct {
	MessageID     string `json:"MessageId"`
	CreatedDate   string `json:"CreatedDate"`
	DestinationID string `json:"DestinationId"`
	SessionID     string `json:"SessionId"`
	MessageType   string `json:"MessageType"`
	SchemaVersion int    `json:"SchemaVersion"`
	Output        string `json:"Output"`
}

// Handshake action types and statuses.
const (
	ActionKMSEncryption = "KMSEncryption"
	ActionSessionType   = "SessionType"

	StatusSuccess     = 1
	StatusFailed      = 2
	StatusUnsupported = 3
)

// HandshakeRequest is what the agent sends first (PayloadHandshakeRequest).
type HandshakeRequest struct {
	AgentVersion           string            `json:"AgentVersion"`
	RequestedClientActions []RequestedAction `json:"RequestedClientActions"`
}

// RequestedAction is one action the agent asks the client to take.
type RequestedAction struct {
	ActionType       string          `json:"ActionType"`
	ActionParameters json.RawMessage `json:"ActionParameters"`
}

// SessionTypeRequest is the parameters of a SessionType action.
type SessionTypeRequest struct {
	SessionType string          `json:"SessionType"`
	Properties  json.RawMessage `json:"Properties"`
}

// PortProperties are a Port session's properties (the port-forwarding
// document's parameters as the agent runs them).
type PortProperties struct {
	PortNumber string `json:"portNumber"`
	Type       string `json:"type"` // "LocalPortForwarding" for the port-forwarding documents
}

// KMSEncryptionRequest is the parameters of a KMSEncryption action.
type KMSEncryptionRequest struct {
	KMSKeyID string `json:"KMSKeyId"`
}

// KMSEncryptionResponse is the result of a KMSEncryption action: the data
// key as KMS encrypted it (base64 in JSON), for the agent's kms:Decrypt.
// The agent's contract also has an optional KMSCipherTextHash, which AWS's
// plugin does not send either.
type KMSEncryptionResponse struct {
	KMSCipherTextKey []byte `json:"KMSCipherTextKey"`
}

// EncryptionChallenge is the body of both PayloadEncChallengeReq (random
// bytes the agent sealed with its half of the data key) and
// PayloadEncChallengeResp (the same bytes, opened and sealed again with the
// client's half): proof that both ends hold the same key.
type EncryptionChallenge struct {
	Challenge []byte `json:"Challenge"`
}

// HandshakeResponse is the client's answer (PayloadHandshakeResponse).
type HandshakeResponse struct {
	ClientVersion          string            `json:"ClientVersion"`
	ProcessedClientActions []ProcessedAction `json:"ProcessedClientActions"`
	Errors                 []string          `json:"Errors"`
}

// ProcessedAction is the result of one requested action.
type ProcessedAction struct {
	ActionType   string `json:"ActionType"`
	ActionStatus int    `json:"ActionStatus"`
	ActionResult any    `json:"ActionResult"`
	Error        string `json:"Error"`
}

// HandshakeComplete ends the handshake (PayloadHandshakeComplete).
// HandshakeTimeToComplete is a Go time.Duration in JSON: nanoseconds.
type HandshakeComplete struct {
	HandshakeTimeToComplete time.Duration `json:"HandshakeTimeToComplete"`
	CustomerMessage         string        `json:"CustomerMessage"`
}
