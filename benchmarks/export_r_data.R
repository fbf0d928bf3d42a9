#!/usr/bin/env Rscript
# Export the real regression data sets that benchmarks/alpha_default.py uses
# besides ../shared/data, from R packages that Debian ships
# (apt-get install -y r-cran-mass r-cran-aer r-cran-ggplot2):
#
#   Rscript benchmarks/export_r_data.R [OUTDIR]      # default /tmp/mixexp_r_data
#
# Each is written as OUTDIR/<name>.csv (header, target last, categorical
# columns as text).  Nothing is committed: the data stay under their
# packages' terms.
#   boston   MASS::Boston, target medv; chas and rad categorical (22 features one-hot)
#   Boston   MASS::Boston as it is, all 13 columns numeric (for `mixexp compare --csv`)
#   cps1985  AER::CPS1985, target wage; 7 factors
#   mpg      ggplot2::mpg, target hwy; cty and model dropped; 5 categorical
#   diamonds ggplot2::diamonds, target price; cut, color, clarity categorical
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "/tmp/mixexp_r_data"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
put <- function(df, name, target) {
  df <- as.data.frame(df)
  for (col in names(df)) if (is.factor(df[[col]])) df[[col]] <- as.character(df[[col]])
  df <- df[, c(setdiff(names(df), target), target)]
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE)
  cat(name, nrow(df), "rows,", ncol(df) - 1, "columns ->", file.path(out, paste0(name, ".csv")), "\n")
}
write.csv(MASS::Boston, file.path(out, "Boston.csv"), row.names = FALSE)
cat("Boston", nrow(MASS::Boston), "rows ->", file.path(out, "Boston.csv"), "\n")
b <- MASS::Boston
b$chas <- paste0("chas", b$chas)
b$rad <- paste0("rad", b$rad)
put(b, "boston", "medv")
data("CPS1985", package = "AER")
put(CPS1985, "cps1985", "wage")
m <- as.data.frame(ggplot2::mpg)
m$cty <- NULL
m$model <- NULL
put(m, "mpg", "hwy")
put(ggplot2::diamonds, "diamonds", "price")
