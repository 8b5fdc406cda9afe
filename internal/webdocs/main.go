// Command webdocs arranges the docs that `packer-sdc renderdocs` rendered
// from docs/ (partials included) into the layout the Packer integrations
// registry reads from .web-docs/:
//
//	.web-docs/README.md                            the integration's page (docs/README.md)
//	.web-docs/components/<type>/<slug>/README.md   one page per component (docs/<kind>s/<slug>.mdx)
//	.web-docs/metadata.hcl                         written by hand; checked here
//
// `make generate` runs it; see the GNUmakefile.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var opts options
	flag.StringVar(&opts.rendered, "rendered", "", "folder `packer-sdc renderdocs` wrote docs/ into")
	flag.StringVar(&opts.out, "out", ".web-docs", "the registry's folder; its metadata.hcl must exist")
	flag.StringVar(&opts.repoURL, "repo-url", defaultRepoURL, "GitHub address of the repository, for links to pages the registry does not show")
	flag.Parse()
	if opts.rendered == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: webdocs -rendered DIR [-out .web-docs] [-repo-url URL]")
		os.Exit(2)
	}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "webdocs:", err)
		os.Exit(1)
	}
}
