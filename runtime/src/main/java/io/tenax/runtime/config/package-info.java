/** Reading and validating the {@code tenax.*} configuration into one typed value. */
package io.tenax.runtime.config;
