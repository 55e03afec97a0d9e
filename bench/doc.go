// Package bench holds the project's benchmarks and table generators. Figures, with the exact
// commands that produced them, are in RESULTS.md beside this file.
package bench
