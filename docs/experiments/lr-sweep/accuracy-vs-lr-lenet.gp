set datafile missing '?'
set title "lenet: final test accuracy vs learning rate (mean of seeds)"
set xlabel "learning rate"
set ylabel "test accuracy"
set key bottom right
set grid
set logscale x
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "accuracy-vs-lr-lenet.png"
plot "accuracy-vs-lr-lenet.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "BN", "accuracy-vs-lr-lenet.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "no BN"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "accuracy-vs-lr-lenet.svg"
replot
set output
