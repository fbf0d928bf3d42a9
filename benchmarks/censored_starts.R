# Export survival's lung and veteran for benchmarks/censored_starts.py (run time only).
#
# Usage: Rscript benchmarks/censored_starts.R --out DIR
#
# survival is LGPL: the data are written to DIR (a temporary folder the Python script makes)
# and never committed.  lung: the 227 rows with ph.ecog known, time, status (1 censored, 63
# rows), age, sex, ph.ecog.  veteran: all 137 rows, time, status (0 censored, 9 rows), trt,
# karno, diagtime, age, prior.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2 || args[1] != "--out") stop("usage: censored_starts.R --out DIR")
out <- args[2]
dir.create(out, recursive = TRUE, showWarnings = FALSE)
put <- function(df, name) {
  cols <- lapply(df, function(v) sprintf("%.17g", as.numeric(v)))
  write.csv(as.data.frame(cols, stringsAsFactors = FALSE), file.path(out, paste0(name, ".csv")),
            row.names = FALSE, quote = FALSE)
}
lung <- survival::lung
put(lung[!is.na(lung$ph.ecog), c("time", "status", "age", "sex", "ph.ecog")], "lung")
put(survival::veteran[, c("time", "status", "trt", "karno", "diagtime", "age", "prior")], "veteran")
cat("survival", as.character(packageVersion("survival")), "\n")
