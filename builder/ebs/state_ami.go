package ebs

import (
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// keyImages holds the build's finished AMIs by region: the build region's
// (unless skip_save_build_region) and every copy.
const keyImages = "bakery/images"

// getImages returns the AMIs by region. Before stepCopyImages has run it is
// the build region's image alone.
func getImages(state multistep.StateBag, buildRegion string) map[string]types.Image {
	if imgs, ok := state.GetOk(keyImages); ok {
		return imgs.(map[string]types.Image)
	}
	if img, ok := getImage(state); ok {
		return map[string]types.Image{buildRegion: img}
	}
	return nil
}

func putImages(state multistep.StateBag, imgs map[string]types.Image) { state.Put(keyImages, imgs) }
