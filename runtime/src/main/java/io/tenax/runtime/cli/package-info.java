/** The {@code tenax} command line: parsing, exit codes, and one-line errors. */
package io.tenax.runtime.cli;
