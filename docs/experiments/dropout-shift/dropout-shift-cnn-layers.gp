set datafile missing '?'
set title "lenet-like CNN, eval mode: variance each BN sees / its running variance"
set xlabel "BN layer"
set ylabel "variance ratio"
set key bottom right
set grid
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "dropout-shift-cnn-layers.png"
plot "dropout-shift-cnn-layers.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "before every BN", "dropout-shift-cnn-layers.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "before every BN, stats re-estimated", "dropout-shift-cnn-layers.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "after the last BN"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "dropout-shift-cnn-layers.svg"
replot
set output
