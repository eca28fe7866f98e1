// Command gatehouse is the Gatehouse OpenID provider: `gatehouse serve`
// runs it, `gatehouse users …` manages accounts. Run `gatehouse help`.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(exitStatus(err))
	}
}
