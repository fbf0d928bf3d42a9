# How good are flexmix's random starts?  Reference side of benchmarks/starts.py.
#
# Usage: Rscript benchmarks/flexmix_starts.R --out DIR [--nrep 5] [--seed 1]
#
# Data (exported at run time from the installed R packages, never shipped):
#   npreg   flexmix's NPreg, model yn ~ x + I(x^2), on a fixed 80% of the 200 rows
#           (set.seed(seed); sort(sample(200, 160)); R >= 3.6 "Rejection" sampling)
#   boston  mlbench's BostonHousing, model medv ~ . (13 features, chas as numeric
#           0/1), all 506 rows
# For each data set and K in 2, 3, 5: nrep random starts, exactly the loop of
# stepFlexmix(formula, data, k = K, nrep = nrep): flexmix(formula, data, k = K,
# control) called nrep times, each from flexmix's own random initial hard
# partition; the best log-likelihood is the one stepFlexmix would keep.  The loop
# is written out only to record every start's log-likelihood, seconds, iterations
# and surviving components.  Model FLXMRglm(gaussian) (the flexmix default),
# constant mixing weights (no concomitant), control = flexmix defaults:
# iter.max = 200, tolerance = 1e-6 (EM stops when the log-likelihood gain is
# below it), minprior = 0.05 (a component whose prior falls below 5% is dropped,
# so a fit may end with fewer than K components: column k_final), classify = "auto".
# set.seed(seed * 1000 + K) before the starts of each (data, K).
#
# Writes to DIR:
#   data/npreg.csv, data/boston.csv  row (1-based row of the R data set), the
#       design columns and the response, exactly the rows fitted (do not commit:
#       GPL data of flexmix / mlbench)
#   flexmix_starts.csv   one line per start: data, K, start, loglik, df, k_final,
#       iter, converged, seconds
#   flexmix_best.csv     one line per (data, K): best loglik, its df, k_final, the
#       sum of seconds of all starts, n
#   flexmix_starts.json  the same plus settings and R / package versions
suppressPackageStartupMessages({
  library(flexmix)
  library(mlbench)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- list(out = NULL, nrep = 5L, seed = 1L)
i <- 1
while (i <= length(args)) {
  key <- sub("^--", "", args[i])
  if (!key %in% names(opt) || i == length(args)) stop("usage: flexmix_starts.R --out DIR [--nrep 5] [--seed 1]")
  opt[[key]] <- args[i + 1]
  i <- i + 2
}
if (is.null(opt$out)) stop("usage: flexmix_starts.R --out DIR [--nrep 5] [--seed 1]")
nrep <- as.integer(opt$nrep)
seed <- as.integer(opt$seed)
out <- opt$out
dir.create(file.path(out, "data"), recursive = TRUE, showWarnings = FALSE)

suppressWarnings(RNGversion("4.0.0"))  # Mersenne-Twister, Inversion, Rejection
ctrl <- list(iter.max = 200, tolerance = 1e-6, minprior = 0.05)

# ---- data -------------------------------------------------------------------
data("NPreg", package = "flexmix")
set.seed(seed)
np_rows <- sort(sample(nrow(NPreg), round(0.8 * nrow(NPreg))))
npreg <- data.frame(row = np_rows, x = NPreg$x[np_rows], x2 = NPreg$x[np_rows]^2,
                    y = NPreg$yn[np_rows])

data("BostonHousing", package = "mlbench")
bh <- BostonHousing
bh$chas <- as.numeric(as.character(bh$chas))
feat <- setdiff(names(bh), "medv")
boston <- data.frame(row = seq_len(nrow(bh)), bh[, feat], y = bh$medv)

# 17 significant digits: the Python side reads back exactly the doubles R fitted
write_exact <- function(d, path) {
  d[] <- lapply(d, function(v) if (is.double(v)) sprintf("%.17g", v) else v)
  write.csv(d, path, row.names = FALSE, quote = FALSE)
}
write_exact(npreg, file.path(out, "data", "npreg.csv"))
write_exact(boston, file.path(out, "data", "boston.csv"))

sets <- list(
  npreg = list(data = npreg, formula = y ~ x + I(x^2), model = "yn ~ x + I(x^2)"),
  boston = list(data = boston[, c(feat, "y")], formula = y ~ ., model = "medv ~ . (chas numeric)")
)
# the fitted model must see exactly the exported columns: x2 of npreg is I(x^2)
sets$npreg$data <- npreg[, c("x", "y")]

# ---- starts ------------------------------------------------------------------
starts <- list()
best <- list()
for (dn in names(sets)) {
  s <- sets[[dn]]
  for (K in c(2L, 3L, 5L)) {
    set.seed(seed * 1000L + K)
    lls <- rep(NA_real_, nrep)
    fits <- vector("list", nrep)
    for (r in seq_len(nrep)) {
      tm <- system.time(f <- try(flexmix(s$formula, data = s$data, k = K, control = ctrl),
                                 silent = TRUE))
      sec <- unname(tm["elapsed"])
      if (inherits(f, "try-error")) {
        starts[[length(starts) + 1]] <- data.frame(data = dn, K = K, start = r, loglik = NA,
          df = NA, k_final = NA, iter = NA, converged = NA, seconds = sec,
          error = gsub("[\r\n]", " ", as.character(f)))
        next
      }
      ll <- logLik(f)
      lls[r] <- as.numeric(ll)
      fits[[r]] <- f
      starts[[length(starts) + 1]] <- data.frame(data = dn, K = K, start = r,
        loglik = as.numeric(ll), df = attr(ll, "df"), k_final = f@k, iter = f@iter,
        converged = f@converged, seconds = sec, error = "")
      cat(sprintf("%-6s K=%d start %d: logLik %10.3f  df %2d  k %d  iter %3d  %.2fs\n",
                  dn, K, r, as.numeric(ll), attr(ll, "df"), f@k, f@iter, sec))
    }
    b <- which.max(lls)
    these <- do.call(rbind, starts[(length(starts) - nrep + 1):length(starts)])
    best[[length(best) + 1]] <- data.frame(data = dn, K = K, n = nrow(s$data), nrep = nrep,
      best_loglik = lls[b], best_start = b, df = these$df[b], k_final = these$k_final[b],
      seconds_total = sum(these$seconds), min_loglik = min(lls, na.rm = TRUE))
  }
}
starts <- do.call(rbind, starts)
best <- do.call(rbind, best)
write.csv(starts, file.path(out, "flexmix_starts.csv"), row.names = FALSE)
write.csv(best, file.path(out, "flexmix_best.csv"), row.names = FALSE)

info <- list(
  settings = list(nrep = nrep, seed = seed, control = ctrl,
    method = "loop equal to stepFlexmix(formula, data, k = K, nrep = nrep): flexmix() from random hard partitions",
    model = "FLXMRglm(family = 'gaussian'), constant mixing weights",
    npreg = list(model = sets$npreg$model, rows = np_rows, n = nrow(npreg),
                 sample = sprintf("set.seed(%d); sort(sample(200, 160))", seed)),
    boston = list(model = sets$boston$model, rows = "all", n = nrow(boston))),
  versions = list(R = R.version.string, flexmix = as.character(packageVersion("flexmix")),
                  mlbench = as.character(packageVersion("mlbench")),
                  modeltools = as.character(packageVersion("modeltools"))),
  starts = starts, best = best)
writeLines(toJSON(info, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(out, "flexmix_starts.json"))
cat("wrote", out, "\n")
