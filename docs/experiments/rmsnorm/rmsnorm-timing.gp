set datafile missing '?'
set title "forward + backward, median (ms)"
set xlabel "features per row (8192 rows)"
set ylabel "ms"
set key bottom right
set grid
set logscale x
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "rmsnorm-timing.png"
plot "rmsnorm-timing.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "LayerNorm", "rmsnorm-timing.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "RMSNorm"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "rmsnorm-timing.svg"
replot
set output
