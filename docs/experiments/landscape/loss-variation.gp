set datafile missing '?'
set title "vgg on CIFAR-10: loss along the gradient (band: min-max over eta)"
set xlabel "step"
set ylabel "loss"
set key bottom right
set grid
set logscale y
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "loss-variation.png"
plot "loss-variation.dat" index 0 using 1:3:4 with filledcurves lc 1 notitle, "loss-variation.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "A: no norm", "loss-variation.dat" index 1 using 1:3:4 with filledcurves lc 2 notitle, "loss-variation.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "B: BN"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "loss-variation.svg"
replot
set output
