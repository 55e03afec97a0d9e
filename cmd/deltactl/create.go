package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/deltaraster/deltaraster/delta"
	"github.com/deltaraster/deltaraster/internal/errwrap"
)

type createOptions struct {
	schema      string
	partitionBy []string
	properties  []string
	name        string
	description string
	json        bool
	bucket      bool
}

func newCreateCmd() *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create URL --schema SCHEMA",
		Short: "Create an empty Delta table",
		Long: `Create writes version 0 of a new, empty Delta table at URL: its protocol (reader 1,
writer 2), its metadata (a new table id, the schema, partition columns and properties) and a
CREATE TABLE commitInfo. Nothing is overwritten: if URL already holds a Delta log, create
fails and the table is left as it was.

--schema lists the columns as name:type pairs separated by commas. Types are Delta's
primitive types: string, long, integer, short, byte, double, float, boolean, binary, date,
timestamp, timestamp_ntz and decimal(precision,scale). Every column is nullable.

--property sets a table property (repeat it for several). Properties that need a table
feature beyond protocol 1/2, such as delta.enableDeletionVectors=true, are refused.

Prints the new version and the table id; with --json one object:
{"version":0,"id":"...","url":"..."}.`,
		Example: `  # A local table, partitioned by day
  deltactl create ./tiles --schema "source:string,level:integer,quadbin:long,day:date" --partition-by day

  # Through a file:// URL, with a name and a checkpoint every 50 commits
  deltactl create file:///data/tiles --schema "id:long,value:decimal(10,2)" \
      --name tiles --property delta.checkpointInterval=50

  # In S3, printing the result as JSON; the bucket is created if it does not exist
  deltactl create s3://bucket/tables/events --schema "ts:timestamp,kind:string" --json --create-bucket`,
		Args: tableArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error { return runCreate(cmd, args[0], &o) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.schema, "schema", "", `columns as "name:type,name:type" (required)`)
	f.StringSliceVar(&o.partitionBy, "partition-by", nil, "partition columns, comma-separated, in order")
	f.StringArrayVar(&o.properties, "property", nil, "table property key=value (repeatable)")
	f.StringVar(&o.name, "name", "", "table name")
	f.StringVar(&o.description, "description", "", "table description")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	createBucketFlag(cmd, &o.bucket)
	_ = cmd.MarkFlagRequired("schema")
	return cmd
}

func runCreate(cmd *cobra.Command, url string, o *createOptions) error {
	schema, err := parseSchema(o.schema)
	if err != nil {
		return usageErrorf("invalid argument for --schema: %w", err)
	}
	for _, c := range o.partitionBy {
		if !slices.ContainsFunc(schema.Fields, func(f delta.StructField) bool { return f.Name == c }) {
			return usageErrorf("invalid argument for --partition-by: column %q is not in the schema", c)
		}
	}
	conf, err := parseProperties(o.properties)
	if err != nil {
		return usageErrorf("invalid argument for --property: %w", err)
	}

	ctx := cmd.Context()
	if err := prepareBucket(ctx, url, o.bucket); err != nil {
		return err
	}
	s, err := openStore(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	snap, err := delta.CreateTable(ctx, s, delta.TableSpec{
		Name:             o.name,
		Description:      o.description,
		Schema:           schema,
		PartitionColumns: o.partitionBy,
		Configuration:    conf,
	}, txnOptions())
	if errors.Is(err, delta.ErrTableExists) {
		// Said plainly, without repeating the URL the delta error names too.
		return fmt.Errorf("create table %s: %w", url, delta.ErrTableExists)
	}
	if err != nil {
		return errwrap.URL("create table", url, bucketHint(err, url))
	}

	out := cmd.OutOrStdout()
	id := snap.Metadata().ID
	if o.json {
		return writeJSON(out, struct {
			Version int64  `json:"version"`
			ID      string `json:"id"`
			URL     string `json:"url"`
		}{snap.Version(), id, url})
	}
	_, err = fmt.Fprintf(out, "created table %s\nversion: %d\nid:      %s\n", url, snap.Version(), id)
	return err
}

// primitiveTypes are the Delta primitive type names --schema accepts; decimal(p,s) is checked
// apart.
var primitiveTypes = []string{
	"string", "long", "integer", "short", "byte", "double", "float", "boolean", "binary",
	"date", "timestamp", "timestamp_ntz",
}

// typeAliases are names other systems use, to suggest the Delta one.
var typeAliases = map[string]string{
	"int": "integer", "int32": "integer", "int64": "long", "bigint": "long", "smallint": "short",
	"tinyint": "byte", "int16": "short", "int8": "byte", "str": "string", "text": "string",
	"varchar": "string", "bool": "boolean", "float64": "double", "float32": "float",
	"real": "float", "bytes": "binary", "datetime": "timestamp",
}

// parseSchema parses "name:type,name:type". Commas inside decimal(p,s) do not split columns.
func parseSchema(s string) (delta.StructType, error) {
	if strings.TrimSpace(s) == "" {
		return delta.StructType{}, fmt.Errorf("no columns")
	}
	st := delta.StructType{Type: "struct"}
	seen := map[string]bool{}
	for _, col := range splitTopLevel(s) {
		col = strings.TrimSpace(col)
		i := strings.LastIndex(col, ":")
		if i < 0 {
			return delta.StructType{}, fmt.Errorf("column %q: want name:type", col)
		}
		name, typ := strings.TrimSpace(col[:i]), strings.TrimSpace(col[i+1:])
		if name == "" {
			return delta.StructType{}, fmt.Errorf("column %q: empty name", col)
		}
		if seen[name] {
			return delta.StructType{}, fmt.Errorf("column %q appears twice", name)
		}
		seen[name] = true
		t, err := parseType(typ)
		if err != nil {
			return delta.StructType{}, fmt.Errorf("column %q: %w", name, err)
		}
		st.Fields = append(st.Fields, delta.NewField(name, t))
	}
	return st, nil
}

// splitTopLevel splits s at commas outside parentheses.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// parseType returns the Delta name of a primitive type.
func parseType(typ string) (string, error) {
	t := strings.ToLower(strings.ReplaceAll(typ, " ", ""))
	if slices.Contains(primitiveTypes, t) {
		return t, nil
	}
	if rest, ok := strings.CutPrefix(t, "decimal"); ok {
		return parseDecimal(typ, rest)
	}
	msg := fmt.Sprintf("unknown type %q (want one of %s, decimal(p,s))", typ, strings.Join(primitiveTypes, ", "))
	if alias, ok := typeAliases[t]; ok {
		msg = fmt.Sprintf("unknown type %q: did you mean %s?", typ, alias)
	}
	return "", fmt.Errorf("%s", msg)
}

// parseDecimal checks "(p,s)": 1 <= p <= 38, 0 <= s <= p.
func parseDecimal(typ, rest string) (string, error) {
	inner, ok := strings.CutPrefix(rest, "(")
	if ok {
		inner, ok = strings.CutSuffix(inner, ")")
	}
	ps := strings.Split(inner, ",")
	if !ok || len(ps) != 2 {
		return "", fmt.Errorf("type %q: want decimal(precision,scale), such as decimal(10,2)", typ)
	}
	p, err1 := strconv.Atoi(ps[0])
	sc, err2 := strconv.Atoi(ps[1])
	if err1 != nil || err2 != nil || p < 1 || p > 38 || sc < 0 || sc > p {
		return "", fmt.Errorf("type %q: want 1 <= precision <= 38 and 0 <= scale <= precision", typ)
	}
	return fmt.Sprintf("decimal(%d,%d)", p, sc), nil
}

// featureProperties are table properties whose value turns on a table feature that a table
// at protocol 1/2 cannot have: setting one would write a table that states the feature while
// its protocol lets every reader ignore it.
var featureProperties = map[string]func(v string) bool{
	"delta.enableDeletionVectors":    isTrue,
	"delta.enableChangeDataFeed":     isTrue,
	"delta.enableInCommitTimestamps": isTrue,
	"delta.enableRowTracking":        isTrue,
	"delta.enableTypeWidening":       isTrue,
	"delta.columnMapping.mode":       func(v string) bool { return !strings.EqualFold(v, "none") },
	"delta.checkpointPolicy":         func(v string) bool { return strings.EqualFold(v, "v2") },
}

func isTrue(v string) bool { return strings.EqualFold(v, "true") }

// parseProperties parses key=value table properties.
func parseProperties(props []string) (map[string]string, error) {
	conf := map[string]string{}
	for _, p := range props {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", p)
		}
		if _, dup := conf[k]; dup {
			return nil, fmt.Errorf("%q is set twice", k)
		}
		if needs, ok := featureProperties[k]; ok && needs(v) {
			return nil, fmt.Errorf("%s=%s needs a table feature that protocol 1/2 lacks", k, v)
		}
		if strings.HasPrefix(k, "delta.feature.") || strings.HasPrefix(k, "delta.constraints.") {
			return nil, fmt.Errorf("%s needs a table feature that protocol 1/2 lacks", k)
		}
		conf[k] = v
	}
	return conf, nil
}
