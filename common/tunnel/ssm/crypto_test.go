package ssm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// The vectors were computed with Python's cryptography package (AESGCM),
// not with Go, from the layout read in AWS's plugin and agent: the data
// key is bytes 0x00…0x3f; the agent seals with its first 32 bytes, the
// client with the last 32; a sealed payload is the 12-byte nonce, the
// ciphertext, then the 16-byte tag, with no additional data.
const (
	vectorPlain = "SSH-2.0-bakery-testbed\r\n"
	// nonce a0…ab, sealed with key[32:64] (the client's half).
	vectorClient = "a0a1a2a3a4a5a6a7a8a9aaab2d6fec19f6f9b087c349c6df54245bd2f40cb56559d02b2854e97dbe155ad6f0bb3f89c4412c0a4a"
	// nonce b0…bb, sealed with key[0:32] (the agent's half).
	vectorAgent = "b0b1b2b3b4b5b6b7b8b9babbca061286dee38b722599fcc7bf24a5b6e14f3db0704a823f3bb345e3f5ecba5943f5ca26ac774a87"
)

func vectorKey() []byte {
	k := make([]byte, 64)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func TestClientSealsWithTheSecondHalf(t *testing.T) {
	c, err := newClientCipher(vectorKey())
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := hex.DecodeString(vectorClient[:24])
	c.rand = bytes.NewReader(nonce)
	got, err := c.Seal([]byte(vectorPlain))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != vectorClient {
		t.Fatalf("sealed\n%x\nwant\n%s", got, vectorClient)
	}
}

func TestClientOpensWhatTheAgentSealed(t *testing.T) {
	c, err := newClientCipher(vectorKey())
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := hex.DecodeString(vectorAgent)
	got, err := c.Open(sealed)
	if err != nil || string(got) != vectorPlain {
		t.Fatalf("opened %q, %v", got, err)
	}
	// What the client sealed is not for the client to open: the halves
	// are one per direction.
	own, _ := hex.DecodeString(vectorClient)
	if _, err := c.Open(own); !errors.Is(err, errSealed) {
		t.Fatalf("the client opened its own direction's payload: %v", err)
	}
	if _, err := c.Open(sealed[:20]); !errors.Is(err, errSealed) {
		t.Fatalf("a truncated payload: %v", err)
	}
}

func TestDataKeyMustBe64Bytes(t *testing.T) {
	if _, err := newClientCipher(make([]byte, 32)); err == nil {
		t.Fatal("a 32-byte data key was accepted")
	}
}
