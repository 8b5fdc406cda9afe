package ssm

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// KMS encryption of a session: when the account's Session Manager
// preferences name a KMS key, the agent's handshake asks for it
// (KMSEncryption). The client asks KMS for a 64-byte data key bound to the
// session (GenerateDataKey with the encryption context below), hands the
// agent the encrypted copy in its handshake response, and the agent
// decrypts it with its own kms:Decrypt. Both then seal the stream's
// payloads with AES-256-GCM: the key's first half is the agent's (it
// encrypts with it, the client decrypts), the second half the client's.
// A sealed payload is the 12-byte nonce, then the ciphertext with GCM's
// 16-byte tag, no additional data.
//
// Worked out from AWS's session-manager-plugin (src/encryption:
// encrypter.go, kmsservice.go; src/datachannel: the KMSEncryption action,
// the encryption challenge and which payloads are sealed) and the SSM
// agent's side (agent/session/crypto/blockcipher.go,
// agent/session/datachannel). crypto_test.go pins the layout with vectors
// computed by another AES-GCM implementation.
const (
	dataKeyBytes = 64
	nonceBytes   = 12

	// Encryption context keys the agent's kms:Decrypt uses: the data key
	// opens only for this session and target.
	ContextSessionID = "aws:ssm:SessionId"
	ContextTargetID  = "aws:ssm:TargetId"
)

// KMSAPI is the part of the KMS client a KMS-encrypted session uses;
// *kms.Client has it.
type KMSAPI interface {
	GenerateDataKey(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
}

// sessionCipher seals what the client sends and opens what the agent sends.
type sessionCipher struct {
	seal, open cipher.AEAD
	rand       io.Reader // nonces; crypto/rand outside tests
}

// newClientCipher splits a 64-byte data key the way the client uses it.
func newClientCipher(dataKey []byte) (*sessionCipher, error) {
	if len(dataKey) != dataKeyBytes {
		return nil, fmt.Errorf("KMS returned a data key of %d bytes, want %d", len(dataKey), dataKeyBytes)
	}
	agent, err := gcm(dataKey[:dataKeyBytes/2])
	if err != nil {
		return nil, err
	}
	client, err := gcm(dataKey[dataKeyBytes/2:])
	if err != nil {
		return nil, err
	}
	return &sessionCipher{seal: client, open: agent, rand: rand.Reader}, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Seal encrypts one payload: a fresh random nonce, then the ciphertext and tag.
func (c *sessionCipher) Seal(plain []byte) ([]byte, error) {
	out := make([]byte, nonceBytes, nonceBytes+len(plain)+c.seal.Overhead())
	if _, err := io.ReadFull(c.rand, out); err != nil {
		return nil, fmt.Errorf("a nonce for the session's encryption: %w", err)
	}
	return c.seal.Seal(out, out[:nonceBytes], plain, nil), nil
}

var errSealed = errors.New("a payload from the SSM agent does not decrypt with the session's data key")

// Open decrypts one payload the agent sealed.
func (c *sessionCipher) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < nonceBytes+c.open.Overhead() {
		return nil, fmt.Errorf("%w (%d bytes is shorter than a nonce and a tag)", errSealed, len(sealed))
	}
	plain, err := c.open.Open(nil, sealed[:nonceBytes], sealed[nonceBytes:], nil)
	if err != nil {
		return nil, errSealed
	}
	return plain, nil
}

// dataKey asks KMS for the session's data key, as the plugin does: 64
// bytes (NumberOfBytes, not a KeySpec: two AES-256 keys), bound to the
// session and the target by the encryption context the agent decrypts with.
func dataKey(ctx context.Context, api KMSAPI, keyID, sessionID, target string) (plain, blob []byte, err error) {
	out, err := api.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(keyID),
		NumberOfBytes:     aws.Int32(dataKeyBytes),
		EncryptionContext: map[string]string{ContextSessionID: sessionID, ContextTargetID: target},
	})
	if err != nil {
		return nil, nil, err
	}
	if len(out.CiphertextBlob) == 0 {
		return nil, nil, errors.New("KMS returned no encrypted copy of the data key")
	}
	return out.Plaintext, out.CiphertextBlob, nil
}
