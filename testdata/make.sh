#!/bin/sh
# make.sh OUTDIR: writes the small rasters the ingest tests read, with GDAL's command-line tools
# (gdal_translate, gdalbuildvrt, gdaladdo) and awk only. Deterministic: the same GDAL version
# writes the same bytes on every run (no timestamps, no random content).
#
#   rgb.tif       300x200, 3 bands Byte, EPSG:32631, striped, no nodata
#   u16.tif       300x200, 4 bands UInt16, EPSG:3857, tiled 128x128, nodata 65535; columns
#                 x >= 256 are nodata in every band (an all-nodata tile at tile size 256 or 128)
#   f32nan.tif    300x200, 1 band Float32, EPSG:4326, no nodata value, NaN holes (NaN is nodata)
#   cog.tif       300x200, 1 band Int16, EPSG:32633, COG 128x128 blocks, 2 overview levels,
#                 nodata -32768
#   rotated.tif   300x200, 1 band Byte, rotated (non north-up) geotransform, a custom Lambert
#                 azimuthal CRS with no EPSG code (stored as WKT2 in the table)
#   polar.tif     300x200, 1 band UInt16, EPSG:3413 (NSIDC polar stereographic north)
#   nocrs.tif     300x200, 1 band Byte, a geotransform but no CRS (the ingester refuses it)
#   truncated.tif the first 40% of a COG: its header reads, its tiles do not
#   notraster.tif a text file
set -eu

out=${1:?usage: make.sh OUTDIR}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

W=300
H=200

# grid NAME EXPR [NODATA]: an Arc/Info ASCII grid W x H whose pixel (x, y) is the awk
# expression EXPR (x = column, y = row from the top).
grid() {
	awk -v w=$W -v h=$H -v nd="${3:-}" "BEGIN {
		print \"ncols \" w; print \"nrows \" h
		print \"xllcorner 0\"; print \"yllcorner 0\"; print \"cellsize 1\"
		if (nd != \"\") print \"NODATA_value \" nd
		for (y = 0; y < h; y++) {
			line = \"\"
			for (x = 0; x < w; x++) { v = $2; line = line (x ? \" \" : \"\") v }
			print line
		}
	}" > "$tmp/$1.asc"
}

q="-q"

# rgb.tif
grid r '(x + y) % 256'
grid g '(x * y) % 256'
grid b '(3 * x + 7 * y) % 251'
gdalbuildvrt $q -separate "$tmp/rgb.vrt" "$tmp/r.asc" "$tmp/g.asc" "$tmp/b.asc"
gdal_translate $q -ot Byte -a_srs EPSG:32631 -a_ullr 500000 4650000 503000 4648000 \
	-co PHOTOMETRIC=RGB "$tmp/rgb.vrt" "$out/rgb.tif"

# u16.tif
grid u1 '(x >= 256) ? 65535 : (x * 200 + y) % 65535'
grid u2 '(x >= 256) ? 65535 : (y * 300 + x) % 65535'
grid u3 '(x >= 256) ? 65535 : ((x % 7 == 0) ? 65535 : 1000 + x + y)'
grid u4 '(x >= 256) ? 65535 : 42'
gdalbuildvrt $q -separate "$tmp/u16.vrt" "$tmp/u1.asc" "$tmp/u2.asc" "$tmp/u3.asc" "$tmp/u4.asc"
gdal_translate $q -ot UInt16 -a_srs EPSG:3857 -a_ullr 1000000 6000000 1030000 5980000 \
	-a_nodata 65535 -co TILED=YES -co BLOCKXSIZE=128 -co BLOCKYSIZE=128 -co COMPRESS=DEFLATE \
	"$tmp/u16.vrt" "$out/u16.tif"

# f32nan.tif: NaN where the awk expression yields the string nan
grid f '((x - 150) * (x - 150) + (y - 100) * (y - 100) < 900 || y >= 192) ? "nan" : (x * 0.25 - y * 0.5)'
gdal_translate $q -ot Float32 -a_srs EPSG:4326 -a_ullr 10 50 13 48 "$tmp/f.asc" "$out/f32nan.tif"

# cog.tif
grid c '(x * 37 + y * 91) % 20000 - 10000' -32768
gdal_translate $q -ot Int16 -a_srs EPSG:32633 -a_ullr 400000 5200000 406000 5196000 \
	-a_nodata -32768 "$tmp/c.asc" "$tmp/c.tif"
gdal_translate $q -of COG -co BLOCKSIZE=128 -co OVERVIEWS=AUTO -co OVERVIEW_COUNT=2 \
	-co RESAMPLING=NEAREST -co COMPRESS=DEFLATE "$tmp/c.tif" "$out/cog.tif"

# rotated.tif: a VRT whose geotransform has rotation terms, then GTiff
# (ModelTransformationTag).
grid o '(x * 3 + y * 5) % 256'
gdal_translate $q -ot Byte -of VRT \
	-a_srs '+proj=laea +lat_0=45 +lon_0=5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs' \
	-a_ullr 0 0 300 -200 "$tmp/o.asc" "$tmp/o.vrt"
sed 's|<GeoTransform>.*</GeoTransform>|<GeoTransform>1.0e5, 8.66025403784439, 5.0, 2.0e5, 5.0, -8.66025403784439</GeoTransform>|' \
	"$tmp/o.vrt" > "$tmp/rot.vrt"
gdal_translate $q "$tmp/rot.vrt" "$out/rotated.tif"

# polar.tif
grid p '(x * x + y * 3) % 60000'
gdal_translate $q -ot UInt16 -a_srs EPSG:3413 -a_ullr -300000 -1500000 0 -1700000 \
	"$tmp/p.asc" "$out/polar.tif"

# nocrs.tif: a geotransform (from the ASCII grid) but no CRS
grid n '(x + 2 * y) % 256'
gdal_translate $q -ot Byte "$tmp/n.asc" "$out/nocrs.tif"

# truncated.tif: the first 40% of a COG (whose header is at the start)
size=$(wc -c < "$out/cog.tif")
head -c $((size * 2 / 5)) "$out/cog.tif" > "$out/truncated.tif"

printf 'this is not a raster\n' > "$out/notraster.tif"

rm -f "$out"/*.aux.xml
