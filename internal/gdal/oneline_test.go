package gdal

import (
	"errors"
	"fmt"
	"testing"
)

func TestOneLine(t *testing.T) {
	base := errors.New("TIFFFillTile:Read error at row 4294967295, col 4294967295, tile 0; got 19928 bytes, expected 23984\n" +
		"gdal: TIFFReadEncodedTile() failed.\n" +
		"gdal: /data/truncated.tif, band 1: IReadBlock failed at X offset 0, Y offset 0: TIFFReadEncodedTile() failed.")
	err := fmt.Errorf("read level 0 tile 0,0 band 1: gdal: %w", base)
	got := OneLine(err, "/data/truncated.tif")
	want := "read level 0 tile 0,0 band 1: gdal: TIFFFillTile:Read error at row 4294967295, col 4294967295, tile 0; got 19928 bytes, expected 23984; " +
		"TIFFReadEncodedTile() failed; band 1: IReadBlock failed at X offset 0, Y offset 0: TIFFReadEncodedTile() failed"
	if got.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !errors.Is(got, base) {
		t.Fatal("the chain is lost")
	}
	if one := errors.New("one line"); OneLine(one) != one || OneLine(nil) != nil {
		t.Fatal("a one-line error is changed")
	}
}
