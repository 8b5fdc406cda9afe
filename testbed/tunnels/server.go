package tunnels

import (
	"io"
	"net"
)

// Greeting is what GreetThenEcho sends first, as an SSH server does.
const Greeting = "SSH-2.0-bakery-testbed\r\n"

// Echo copies every byte back.
func Echo(c net.Conn) { _, _ = io.Copy(c, c) }

// GreetThenEcho plays an SSH server as far as a tunnel can tell: it speaks
// first, then echoes.
func GreetThenEcho(c net.Conn) {
	if _, err := c.Write([]byte(Greeting)); err == nil {
		Echo(c)
	}
}

// Serve runs serve for every connection to a new 127.0.0.1 port (the
// "instance" port of unit tests) until stop is called.
func Serve(serve func(net.Conn)) (port int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() { ln.Close() }, nil
}
